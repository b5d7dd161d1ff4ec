"""Job types with `uses_docker` run their image in a container on the local cluster (podman), with the
execution directory mounted at its own path, and leave no container behind however they end.

The image is built here without a registry: a root filesystem of Debian's static busybox, imported with
`podman import`. Without podman or busybox-static these tests skip, naming what is missing (`.ci/run`
installs both)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest
from sqlalchemy import select

from app.db import session_scope
from app.models import JobExecution

PODMAN = shutil.which("podman")
BUSYBOX = "/bin/busybox"
IMAGE = "localhost/scale-test-busybox:1"

pytestmark = [
    pytest.mark.skipif(PODMAN is None, reason="podman is not installed (apt-get install podman runc)"),
    pytest.mark.skipif(not os.path.exists(BUSYBOX), reason="busybox-static is not installed (/bin/busybox)"),
]


ALGORITHMS = {
    "produce": 'echo "in a container: $(ls /mnt/mesos/sandbox | wc -l) sandbox files"; echo made > "$1/out.txt"',
    "fail3": "echo failing >&2; exit 3",
    "sleepy": "echo started; sleep 120",
    "hog": 'echo hogging; held=$(head -c 200000000 /dev/zero | tr "\\0" a); echo "held ${#held} bytes"',
    # combine <output name> <file name> <input file> <job_output_dir>: the input's text, then [name]
    "combine": "\n".join(
        [
            'name="$1"; file="$2"; input="$3"; out="$4"',
            '{ cat "$input"; printf "[%s]" "$name"; } > "$out/$file"',
            'printf \'{"version": "1.1", "output_data": [{"name": "%s", "file": {"path": "%s"}}]}\' "$name" "$out/$file"'
            ' > "$out/results_manifest.json"',
            'echo "combined $input into $file"',
        ]
    ),
}


@pytest.fixture(scope="module")
def image():
    from workers.local_cluster.images import build_busybox_image, remove_image

    build_busybox_image(IMAGE, ALGORITHMS)  # the job types' commands (command_arguments are split on spaces)
    yield IMAGE
    remove_image(IMAGE)  # the image is rebuilt on every run: leave neither it nor its earlier builds behind


def containers_left(stack) -> list:
    from workers.local_cluster.containers import ROOT_LABEL, global_args

    listed = subprocess.run(
        [PODMAN, *global_args(PODMAN), "ps", "-a", "--filter", f"label={ROOT_LABEL}={stack.cluster.sandbox_root}"]
        + ["--format", "json"],
        check=True,
        capture_output=True,
        text=True,
    )
    return json.loads(listed.stdout or "[]")


def docker_type(stack, image: str, algorithm: str, **fields):
    interface = {
        "version": "1.0",
        "command": f"/bin/{algorithm}",
        "command_arguments": "${job_output_dir}",
        "input_data": [],
        "output_data": [],
    }
    fields.setdefault("mem_required", 64.0)
    return stack.create_job_type(docker_image=image, interface=interface, **fields)  # an image means uses_docker


def execution(job_id: int) -> JobExecution:
    with session_scope() as s:
        exe = s.scalars(select(JobExecution).where(JobExecution.job_id == job_id)).one()
        s.expunge(exe)
        return exe


def logs_of(stack, job_id: int) -> dict:
    """The execution's stdout and stderr as the API reads them from the agent ({} before it exists)."""
    with session_scope() as s:
        exe_id = s.scalar(select(JobExecution.id).where(JobExecution.job_id == job_id))
    return stack.client.get(f"/job-executions/{exe_id}/logs/").get_json() if exe_id else {}


def test_a_container_job_writes_into_its_execution_directory_and_leaves_nothing_behind(stack, image):
    job_type = docker_type(stack, image, "produce", name="boxed")
    job = stack.queue_job(job_type["id"])
    done = stack.wait_job(job["id"], ("COMPLETED", "FAILED"), timeout=60)
    exe = execution(job["id"])
    logs = logs_of(stack, job["id"])
    stdout = logs["stdout"]
    assert done["status"] == "COMPLETED", logs
    assert "in a container:" in stdout
    # the same path inside and out: the host sees what the container wrote at ${job_output_dir}
    output_dir = Path(exe.command_arguments.split()[-1])
    assert (output_dir / "out.txt").read_text() == "made\n"
    assert containers_left(stack) == []
    details = stack.client.get(f"/job-executions/{exe.id}/").get_json()
    assert details["environment"]["SCALE_DOCKER_IMAGE"] == image  # which image ran


def test_a_failing_container_maps_its_exit_code_like_a_command(stack, image):
    assert (
        stack.client.post("/errors/", json={"name": "bad-box", "title": "Bad box", "category": "DATA"}).status_code
        == 201
    )
    mapping = {"version": "1.0", "exit_codes": {"3": "bad-box"}}
    job_type = docker_type(stack, image, "fail3", name="failing-box", error_mapping=mapping)
    job = stack.queue_job(job_type["id"])
    failed = stack.wait_job(job["id"], "FAILED", timeout=60)
    assert failed["error"]["name"] == "bad-box"
    assert execution(job["id"]).job_exit_code == 3
    assert containers_left(stack) == []


def test_a_container_over_its_memory_fails_with_out_of_memory(stack, image):
    """The limit holds inside the container, and the kernel's OOM kill is reported as Mesos' memory
    isolator reports it (the container's exit code alone, 137, would say algorithm-unknown)."""
    from workers.local_cluster import oom

    probe = oom.watch(f"probe-{os.getpid()}", 16.0)
    if probe is None:
        pytest.skip("no cgroup of its own can be made here (root and a cgroup memory controller are needed)")
    probe.remove()
    job_type = docker_type(stack, image, "hog", name="hogging-box", mem_required=32.0, max_tries=1)
    job = stack.queue_job(job_type["id"])
    failed = stack.wait_job(job["id"], "FAILED", timeout=60)
    exe = execution(job["id"])
    assert failed["error"]["name"] == "out-of-memory", exe.task_message
    assert exe.task_reason == "REASON_CONTAINER_LIMITATION_MEMORY"
    assert exe.task_message.startswith("Memory limit exceeded: Requested: 32MB")
    assert "held" not in logs_of(stack, job["id"])["stdout"]
    assert containers_left(stack) == []
    assert exe.container_id and oom.watch(exe.container_id, 0.0, create=False) is None  # its cgroup is gone


def test_a_missing_image_is_its_own_error(stack):
    job_type = docker_type(stack, "localhost/no-such-image:1", "produce", name="no-image")
    job = stack.queue_job(job_type["id"])
    failed = stack.wait_job(job["id"], "FAILED", timeout=90)
    assert failed["error"]["name"] == "image-not-found"
    assert "localhost/no-such-image:1" in execution(job["id"]).task_message


def test_a_canceled_container_is_stopped_and_removed(stack, image):
    job_type = docker_type(stack, image, "sleepy", name="sleeping-box")
    job = stack.queue_job(job_type["id"])
    stack.wait(
        lambda: "started" in logs_of(stack, job["id"]).get("stdout", ""), timeout=60, what="the container to start"
    )
    assert len(containers_left(stack)) == 1
    assert stack.client.patch(f"/jobs/{job['id']}/", json={"status": "CANCELED"}).status_code == 200
    stack.wait(lambda: execution(job["id"]).task_state == "TASK_KILLED", timeout=30, what="the kill")
    stack.wait(lambda: containers_left(stack) == [], timeout=30, what="the container to be removed")


def test_without_a_container_runtime_a_docker_job_fails_at_once_saying_so(stack, image, monkeypatch):
    from app.settings import settings

    monkeypatch.setenv("LOCAL_CLUSTER_CONTAINER_RUNTIME", "none")
    settings.reload()
    job_type = docker_type(stack, image, "produce", name="no-runtime", max_tries=2)
    job = stack.queue_job(job_type["id"])
    failed = stack.wait_job(job["id"], "FAILED", timeout=60)
    assert failed["error"]["name"] == "container-runtime-missing"
    assert failed["num_exes"] == 2  # a SYSTEM error: retried up to max_tries, not forever
    assert "No container runtime" in execution_message(job["id"])


def execution_message(job_id: int) -> str:
    with session_scope() as s:
        return s.scalars(
            select(JobExecution.task_message).where(JobExecution.job_id == job_id).order_by(JobExecution.id.desc())
        ).first()


def test_a_timed_out_container_is_killed_and_removed(stack, image):
    job_type = docker_type(stack, image, "sleepy", name="slow-box", timeout=2)
    job = stack.queue_job(job_type["id"])
    failed = stack.wait_job(job["id"], "FAILED", timeout=60)
    assert failed["error"]["name"] == "timeout"
    stack.wait(lambda: containers_left(stack) == [], timeout=30, what="the container to be removed")


def test_a_recipe_feeds_a_host_jobs_product_to_a_container_job(stack, image):
    from tests.test_e2e_recipes import (
        _file_type,
        _product_text,
        _queue_recipe,
        _recipe_type,
        _source_file,
        _wait_statuses,
    )

    workspace = stack.create_workspace("products")
    stack.create_job_type(**_file_type("host-step", "1.0", [("in1", "text/plain")], "out", "text/plain", "out.txt"))
    interface = {
        "version": "1.0",
        "command": "/bin/combine",
        "command_arguments": "out boxed.txt ${in1} ${job_output_dir}",
        "input_data": [{"name": "in1", "type": "file", "media_types": ["text/plain"]}],
        "output_data": [{"name": "out", "type": "file", "media_type": "text/plain"}],
    }
    stack.create_job_type(name="boxed-step", version="1.0", docker_image=image, interface=interface, mem_required=64.0)
    definition = {
        "version": "1.0",
        "input_data": [{"name": "seed", "type": "file"}],
        "jobs": [
            {
                "name": "A",
                "job_type": {"name": "host-step", "version": "1.0"},
                "recipe_inputs": [{"recipe_input": "seed", "job_input": "in1"}],
            },
            {
                "name": "B",
                "job_type": {"name": "boxed-step", "version": "1.0"},
                "dependencies": [{"name": "A", "connections": [{"output": "out", "input": "in1"}]}],
            },
        ],
    }
    recipe_type = _recipe_type(stack, "host-then-box", definition)
    seed = _source_file(workspace, "seed.txt", "seed;", "text/plain")
    data = {"version": "1.0", "workspace_id": workspace["id"], "input_data": [{"name": "seed", "file_id": seed}]}
    recipe = _queue_recipe(stack, recipe_type["id"], data)
    jobs = _wait_statuses(stack, recipe["id"], {"A": "COMPLETED", "B": "COMPLETED"}, timeout=90)
    # the container read the first job's product (mounted read-only where its link points) and made its own
    assert _product_text(jobs["B"]["id"]) == "seed;[out][out]"
    assert containers_left(stack) == []


def test_the_demos_container_job_type_counts_lines_in_its_container(stack):
    """scripts/demo.py's `line-count`: its image built here, registered as the demo registers it."""
    import importlib.util

    from tests.test_e2e_recipes import _product_text, _source_file
    from workers.local_cluster.images import build_busybox_image, remove_image

    spec = importlib.util.spec_from_file_location(
        "demo", Path(__file__).resolve().parent.parent / "scripts" / "demo.py"
    )
    demo = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(demo)
    build_busybox_image(demo.DEMO_IMAGE, {"line-count": demo.LINE_COUNT})
    try:
        workspace = stack.create_workspace("products")
        body = demo.line_count_job_type()
        assert stack.client.post("/job-types/", json=body).status_code == 201
        job_type_id = stack.client.get("/job-types/?name=line-count").get_json()["results"][0]["id"]
        source = _source_file(workspace, "three.txt", "a\nb\nc\n", "text/plain")
        data = {"version": "1.0", "input_data": [{"name": "input_file", "file_id": source}], "output_data": []}
        data["output_data"] = [{"name": "lines", "workspace_id": workspace["id"]}]
        job = stack.queue_job(job_type_id, data)
        stack.wait_job(job["id"], "COMPLETED", timeout=60)
        assert _product_text(job["id"]).strip() == "3"
        assert containers_left(stack) == []
    finally:
        remove_image(demo.DEMO_IMAGE)
