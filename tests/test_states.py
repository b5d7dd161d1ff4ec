"""The state machines of app/states.py: allowed and refused moves, the stamps a move writes, and
compare-and-set updates that leave rows in other states alone."""

from __future__ import annotations

import re
from datetime import datetime, timezone
from pathlib import Path
from types import SimpleNamespace

import pytest

from app.models import Ingest, Job
from app.states import EXECUTION, INGEST, JOB, NODE, RECIPE, RESOURCE_POOL, InvalidTransition
from tests.factories import make_job, make_job_type

NOW = datetime(2026, 1, 2, 3, 4, 5, tzinfo=timezone.utc)
ROOT = Path(__file__).resolve().parent.parent


def _row(**fields):
    return SimpleNamespace(id=7, **fields)


# (machine, from, to) moves the system makes
ALLOWED = [
    (JOB, "PENDING", "QUEUED"),
    (JOB, "PENDING", "BLOCKED"),
    (JOB, "BLOCKED", "PENDING"),
    (JOB, "QUEUED", "RUNNING"),
    (JOB, "RUNNING", "COMPLETED"),
    (JOB, "RUNNING", "FAILED"),
    (JOB, "RUNNING", "QUEUED"),
    (JOB, "FAILED", "QUEUED"),
    (JOB, "CANCELED", "PENDING"),
    (JOB, "RUNNING", "CANCELED"),
    (EXECUTION, "QUEUED", "RUNNING"),
    (EXECUTION, "RUNNING", "COMPLETED"),
    (EXECUTION, "RUNNING", "FAILED"),
    (EXECUTION, "RUNNING", "CANCELED"),
    (RECIPE, "RUNNING", "COMPLETED"),
    (RECIPE, "COMPLETED", "RUNNING"),
    (INGEST, "TRANSFERRING", "TRANSFERRED"),
    (INGEST, "TRANSFERRED", "QUEUED"),
    (INGEST, "TRANSFERRED", "DEFERRED"),
    (INGEST, "TRANSFERRED", "DUPLICATE"),
    (INGEST, "QUEUED", "INGESTING"),
    (INGEST, "INGESTING", "INGESTED"),
    (INGEST, "INGESTING", "ERRORED"),
    (INGEST, "ERRORED", "TRANSFERRED"),
    (NODE, "READY", "PAUSED"),
    (NODE, "PAUSED", "READY"),
    (NODE, "PAUSED", "DELETED"),
    (RESOURCE_POOL, "ACTIVE", "FROZEN"),
    (RESOURCE_POOL, "FROZEN", "DRAINING"),
    (RESOURCE_POOL, "DRAINING", "ACTIVE"),
]

# moves no rule allows
REFUSED = [
    (JOB, "COMPLETED", "CANCELED"),
    (JOB, "COMPLETED", "QUEUED"),
    (JOB, "PENDING", "RUNNING"),
    (JOB, "CANCELED", "CANCELED"),
    (EXECUTION, "COMPLETED", "RUNNING"),
    (EXECUTION, "FAILED", "COMPLETED"),
    (EXECUTION, "CANCELED", "CANCELED"),
    (RECIPE, "COMPLETED", "COMPLETED"),
    (INGEST, "INGESTED", "INGESTING"),
    (INGEST, "INGESTED", "TRANSFERRING"),  # a file arriving again gets a row of its own
    (INGEST, "DEFERRED", "TRANSFERRED"),
    (INGEST, "QUEUED", "INGESTED"),
    (INGEST, "TRANSFERRING", "QUEUED"),
    (INGEST, "DUPLICATE", "QUEUED"),
    (NODE, "READY", "DELETED"),
    (NODE, "DELETED", "READY"),
    (RESOURCE_POOL, "DRAINING", "FROZEN"),
    (RESOURCE_POOL, "ACTIVE", "ACTIVE"),
]


def _loaded(machine, state):
    if machine is RECIPE:
        return _row(completed=NOW if state == "COMPLETED" else None)
    return _row(**{machine.field: state})


@pytest.mark.parametrize("machine,current,target", ALLOWED, ids=lambda v: getattr(v, "entity", v))
def test_allowed_move_sets_the_state(machine, current, target):
    row = _loaded(machine, current)
    machine.move(row, target, NOW)
    assert machine.read(row) == target
    assert current in machine.sources(target)


@pytest.mark.parametrize("machine,current,target", REFUSED, ids=lambda v: getattr(v, "entity", v))
def test_refused_move_names_both_states_and_changes_nothing(machine, current, target):
    row = _loaded(machine, current)
    before = dict(vars(row))
    with pytest.raises(InvalidTransition) as raised:
        machine.move(row, target, NOW)
    assert f"from {current} to {target}" in str(raised.value)
    assert machine.entity in str(raised.value)
    assert vars(row) == before


def test_job_moves_write_the_timestamps_of_the_new_state():
    job = _row(status="RUNNING", queued=None, ended=None, last_status_change=None)
    JOB.move(job, "QUEUED", NOW)
    assert (job.queued, job.ended, job.last_status_change) == (NOW, None, NOW)
    job.status = "RUNNING"
    JOB.move(job, "FAILED", NOW)
    assert job.ended == NOW


def test_execution_end_and_recipe_completion_are_stamped():
    exe = _row(status="RUNNING", ended=None)
    EXECUTION.move(exe, "COMPLETED", NOW)
    assert exe.ended == NOW
    recipe = _row(completed=NOW)
    RECIPE.move(recipe, "RUNNING", NOW)
    assert recipe.completed is None


def test_compare_and_set_moves_only_rows_in_allowed_states(session):
    job_type = make_job_type(session)
    pending, completed, canceled = (make_job(session, job_type, status=s) for s in ("PENDING", "COMPLETED", "CANCELED"))
    session.commit()
    moved = (
        JOB.compare_and_set(
            session, Job, [Job.id.in_([pending.id, completed.id, canceled.id])], "QUEUED", NOW, returning=Job.id
        )
        .scalars()
        .all()
    )
    session.commit()
    assert sorted(moved) == sorted([pending.id, canceled.id])
    session.expire_all()
    assert [session.get(Job, j.id).status for j in (pending, completed, canceled)] == ["QUEUED", "COMPLETED", "QUEUED"]
    assert session.get(Job, pending.id).queued == NOW


def test_compare_and_set_refuses_sources_no_rule_allows(session):
    with pytest.raises(AssertionError, match="cannot go to INGESTED"):
        INGEST.compare_and_set(session, Ingest, [Ingest.id == 1], "INGESTED", sources={"QUEUED"})


def test_no_status_is_assigned_outside_the_state_machines():
    """Every status write goes through app/states.py (move or compare_and_set)."""
    direct = re.compile(r"\.(status|state)\s*=(?!=)|\.values\([^)]*\bstatus=")
    offenders = []
    for path in sorted((ROOT / "app").rglob("*.py")):
        if path == ROOT / "app" / "states.py":
            continue
        for number, line in enumerate(path.read_text().splitlines(), 1):
            if direct.search(line):
                offenders.append(f"{path.relative_to(ROOT)}:{number}: {line.strip()}")
    assert offenders == []
