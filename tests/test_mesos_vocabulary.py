"""The shared Mesos vocabulary: task ids and terminal states."""

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
