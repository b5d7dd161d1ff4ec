"""The shared Mesos vocabulary: task ids, terminal states, resource sums."""

from app import mesos


def test_task_id_round_trips_and_rejects_foreign_ids():
    assert mesos.task_id_for(42) == "scale-exe-42"
    assert mesos.exe_id_from_task("scale-exe-42") == 42
    assert mesos.exe_id_from_task("other-42") is None
    assert mesos.exe_id_from_task("scale-exe-x") is None


def test_unreachable_is_not_terminal_for_mesos_but_ends_the_execution():
    for state in ("TASK_UNREACHABLE", "TASK_UNKNOWN"):
        assert state not in mesos.TERMINAL_TASK_STATES
        assert state in mesos.EXECUTION_ENDING_TASK_STATES
    assert "TASK_LOST" in mesos.TERMINAL_TASK_STATES
    assert "TASK_RUNNING" not in mesos.EXECUTION_ENDING_TASK_STATES


def test_scalar_resources_sums_known_scalars_only():
    resources = [
        {"name": "cpus", "type": "SCALAR", "scalar": {"value": 1.5}},
        {"name": "cpus", "type": "SCALAR", "scalar": {"value": 0.5}},
        {"name": "mem", "scalar": {"value": 256}},
        {"name": "ports", "type": "RANGES", "ranges": {"range": [{"begin": 1, "end": 2}]}},
        {"name": "gpus", "type": "SCALAR", "scalar": {"value": 1}},
    ]
    assert mesos.scalar_resources(resources) == {"cpus": 2.0, "mem": 256.0, "disk": 0.0}
    assert mesos.scalar_resources(None) == {"cpus": 0.0, "mem": 0.0, "disk": 0.0}
