"""DOCKER tasks without running one: the TaskInfo the scheduler sends and the run the local cluster builds."""

from __future__ import annotations


from app.services.executions import ContainerSpec, LaunchSpec
from workers.local_cluster import containers, proto
from workers.local_cluster.oom import MemoryWatch
from workers.scheduler.core import SchedulerCore


def launch(container: ContainerSpec | None) -> LaunchSpec:
    return LaunchSpec(
        exe_id=7,
        job_id=3,
        task_id="scale-exe-7",
        agent_id="agent-1",
        name="algo 1.0 job 3",
        argv=["/bin/algo", "--in", "/var/exe/7/inputs/a/x.tif", "/var/exe/7/outputs"],
        cpus=0.5,
        mem=256.0,
        disk=0.0,
        environment={"SCALE_JOB_ID": "3"},
        container=container,
    )


def test_a_docker_task_sends_its_arguments_only_with_every_path_mounted_at_its_own_place():
    spec = ContainerSpec("geoint/algo:2", False, (("/var/exe/7", "RW"), ("/data/ws/a", "RO")))
    info = SchedulerCore.task_info(launch(spec), resources=[])
    assert "value" not in info["command"]  # `docker run <image> <arguments>`: argv[0] is not repeated
    assert info["command"]["arguments"][0] == "/bin/algo" and info["command"]["shell"] is False
    assert info["container"] == {
        "type": "DOCKER",
        "docker": {
            "image": "geoint/algo:2",
            "network": "NONE",
            "privileged": False,
            "force_pull_image": False,
            "parameters": [],
        },
        "volumes": [
            {"container_path": "/var/exe/7", "host_path": "/var/exe/7", "mode": "RW"},
            {"container_path": "/data/ws/a", "host_path": "/data/ws/a", "mode": "RO"},
        ],
    }
    plain = SchedulerCore.task_info(launch(None), resources=[])
    assert plain["command"]["value"] == "/bin/algo" and "container" not in plain


def test_the_local_cluster_runs_the_image_with_limits_volumes_and_no_shell(tmp_path):
    spec = ContainerSpec("geoint/algo:2", True, (("/var/exe/7", "RW"), ("/data/ws/a", "RO")))
    info = SchedulerCore.task_info(launch(spec), resources=[])
    sandbox = tmp_path / "sandboxes" / "scale-exe-7"
    argv = containers.run_argv(
        "/usr/bin/podman",
        "scale-exe-7",
        info,
        sandbox,
        tmp_path / "sandboxes",
        {"cpus": 0.5, "mem": 256.0},
        {"A": "b c"},
    )
    assert argv[-5:] == ["geoint/algo:2", "/bin/algo", "--in", "/var/exe/7/inputs/a/x.tif", "/var/exe/7/outputs"]
    joined = " ".join(argv)
    for part in (
        "--name scale-scale-exe-7",
        "--network none",
        f"-v {sandbox}:/mnt/mesos/sandbox:rw",
        "-v /var/exe/7:/var/exe/7:rw",
        "-v /data/ws/a:/data/ws/a:ro",
        "--cpus 0.5",
        "--memory 256m",
        "--privileged",
        "-e A=b c",
    ):
        assert part in joined, part
    assert "-e" in argv and argv[argv.index("-e") + 1] == "A=b c"  # one argument: no shell splits it
    assert containers.is_docker_task(info) and not containers.is_docker_task({"command": {}})

    # Under a cgroup of its own that holds the limit (cgroup v1), the container gets none of its own.
    watch = MemoryWatch(tmp_path / "cgroup", "/scale-tasks/c-1", limits_memory=True, eventfd=None)
    watched = containers.run_argv("/usr/bin/podman", "scale-exe-7", info, sandbox, tmp_path, {"mem": 256.0}, {}, watch)
    assert "--memory" not in watched
    assert watched[watched.index("--cgroup-parent") + 1] == "/scale-tasks/c-1"


def test_no_runtime_and_a_missing_image_are_said_plainly(monkeypatch):
    import pytest

    with pytest.raises(containers.ContainerError, match="No container runtime on agent node-1"):
        containers.prepare(None, {"container": {"docker": {"image": "x"}}}, "node-1")
    monkeypatch.setenv("LOCAL_CLUSTER_CONTAINER_RUNTIME", "none")
    from app.settings import settings

    settings.reload()
    try:
        assert containers.runtime() is None
    finally:
        monkeypatch.undo()
        settings.reload()


def test_the_task_infos_parse_as_mesos_messages_with_nothing_a_master_would_drop(monkeypatch):
    """Read against include/mesos/v1/mesos.proto (TaskInfo, CommandInfo, ContainerInfo, DockerInfo, Volume,
    Parameter, Environment) as a master parses JSON: every required field there, every value of its
    type, every enum name known, and no field or value a master would silently ignore."""
    from app.settings import settings

    monkeypatch.setattr(settings, "DOCKER_PARAMETERS", "shm-size=1g; ulimit=nofile=1024", raising=False)
    monkeypatch.setattr(settings, "DOCKER_NETWORK", "bridge", raising=False)
    spec = ContainerSpec("geoint/algo:2", True, (("/var/exe/7", "RW"), ("/data/ws/a", "RO")))
    resources = [{"name": "cpus", "type": "SCALAR", "scalar": {"value": 0.5}, "role": "*"}]
    for container in (spec, None):
        info = SchedulerCore.task_info(launch(container), resources=resources)
        parsed = proto.parse("TaskInfo", info)
        assert parsed.errors == [] and parsed.ignored == []
        assert proto.task_problems(info) == []
    docker = SchedulerCore.task_info(launch(spec), resources=resources)["container"]["docker"]
    assert docker["network"] == "BRIDGE"
    assert docker["parameters"] == [{"key": "shm-size", "value": "1g"}, {"key": "ulimit", "value": "nofile=1024"}]
    misspelt = {**docker, "network": "bridged", "force_pull": True}
    parsed = proto.parse("DockerInfo", misspelt, "container.docker.")
    assert parsed.errors == [] and parsed.ignored == ["container.docker.network=bridged", "container.docker.force_pull"]
