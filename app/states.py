"""Allowed state transitions, in one place per entity.

Each machine is a list of small rules: a rule names the states it leaves from, the states it
enters, and why. A transition is allowed when some rule covers it; otherwise the caller gets
`InvalidTransition` with a readable reason (the API turns it into a 400).

This module is the only writer of statuses: `move(row, to)` changes one loaded row (and the
timestamps that go with the new state), `compare_and_set(...)` changes many rows in one UPDATE
whose WHERE holds only the states the rules allow to enter the target.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, Callable

from sqlalchemy import update
from sqlalchemy.orm import Session

from app.db import utcnow

# Status vocabularies (app.models declares its columns with them)
JOB_STATUSES = ("PENDING", "BLOCKED", "QUEUED", "RUNNING", "FAILED", "COMPLETED", "CANCELED")
EXE_STATUSES = ("QUEUED", "RUNNING", "FAILED", "COMPLETED", "CANCELED")
INGEST_STATUSES = ("TRANSFERRING", "TRANSFERRED", "DEFERRED", "QUEUED", "INGESTING", "INGESTED", "ERRORED", "DUPLICATE")
INGEST_IN_FLIGHT = ("TRANSFERRING", "TRANSFERRED", "QUEUED", "INGESTING")  # at most one row per Strike and name
RECIPE_STATUSES = ("RUNNING", "COMPLETED")
NODE_STATES = ("READY", "PAUSED", "DEGRADED", "OFFLINE", "DELETED")
RESOURCE_POOL_STATES = ("ACTIVE", "FROZEN", "DRAINING")
SCALED_NODE_STATES = ("LAUNCHING", "RUNNING", "DRAINING", "TERMINATING", "TERMINATED", "FAILING", "FAILED")
TERMINAL_JOB_STATUSES = frozenset({"FAILED", "COMPLETED", "CANCELED"})
TERMINAL_EXE_STATUSES = frozenset({"FAILED", "COMPLETED", "CANCELED"})


class InvalidTransition(Exception):
    pass


@dataclass(frozen=True)
class Rule:
    from_states: frozenset[str]
    to_states: frozenset[str]
    why: str


def rule(from_states: str, to_states: str, why: str) -> Rule:
    return Rule(frozenset(from_states.split()), frozenset(to_states.split()), why)


# The column values a move to a state writes besides the state itself: (target, now) -> {column: value}.
Stamps = Callable[[str, datetime], dict[str, Any]]


def _no_stamps(target: str, now: datetime) -> dict[str, Any]:
    return {}


class StateMachine:
    def __init__(
        self,
        entity: str,
        states: tuple[str, ...],
        rules: list[Rule],
        *,
        field: str | None = "status",
        stamps: Stamps = _no_stamps,
    ) -> None:
        self.entity = entity
        self.states = states
        self.rules = rules
        self.field = field  # None: the state is derived from other columns (see `stamps` and `read`)
        self.stamps = stamps
        for r in rules:
            unknown = (r.from_states | r.to_states) - set(states)
            assert not unknown, f"{entity} rule uses unknown states {unknown}"

    def allowed(self, current: str, target: str) -> bool:
        return any(current in r.from_states and target in r.to_states for r in self.rules)

    def sources(self, target: str) -> set[str]:
        """Every state from which `target` may be entered (for compare-and-set updates)."""
        return {s for r in self.rules if target in r.to_states for s in r.from_states}

    def check(self, current: str, target: str, ident: object = "") -> None:
        if not self.allowed(current, target):
            label = f"{self.entity} {ident}".strip()
            raise InvalidTransition(f"{label} cannot go from {current} to {target}")

    def read(self, row: Any) -> str:
        return getattr(row, self.field)

    def changes(self, target: str, now: datetime) -> dict[str, Any]:
        values = dict(self.stamps(target, now))
        if self.field is not None:
            values[self.field] = target
        return values

    def move(self, row: Any, target: str, now: datetime | None = None, ident: object = None) -> None:
        """Move one loaded row to `target`, or raise InvalidTransition naming both states."""
        self.check(self.read(row), target, getattr(row, "id", "") if ident is None else ident)
        for name, value in self.changes(target, now or utcnow()).items():
            setattr(row, name, value)

    def compare_and_set(
        self,
        session: Session,
        model: Any,
        where: list[Any],
        target: str,
        now: datetime | None = None,
        sources: set[str] | None = None,
        returning: Any = None,
        synchronize: bool = True,
        **values: Any,
    ) -> Any:
        """One UPDATE of the rows matching `where` whose state may enter `target` (optionally only from
        `sources`, a subset of the allowed ones). Rows in any other state are left alone: the result's
        rowcount (or the `returning` columns) says which rows moved."""
        allowed = self.sources(target)
        if sources is not None:
            assert sources <= allowed, f"{self.entity}: {sorted(sources - allowed)} cannot go to {target}"
            allowed = sources
        now = now or utcnow()
        stmt = (
            update(model)
            .where(*where, getattr(model, self.field).in_(sorted(allowed)))
            .values(**{**self.changes(target, now), "last_modified": now, **values})
        )
        if not synchronize:  # the caller does not use loaded copies of these rows afterwards
            stmt = stmt.execution_options(synchronize_session=False)
        if returning is not None:
            stmt = stmt.returning(*returning) if isinstance(returning, (list, tuple)) else stmt.returning(returning)
        return session.execute(stmt)

    def compare_and_set_each(
        self,
        session: Session,
        model: Any,
        rows: list[dict[str, Any]],
        target: str,
        now: datetime | None = None,
        sources: set[str] | None = None,
        **common: Any,
    ) -> set[Any]:
        """`compare_and_set` of a batch whose rows ({"id": ..., own columns}) each carry values of their own:
        one UPDATE moves the rows that may enter `target` (with the `common` values), then one bulk UPDATE
        by id writes the moved rows' own columns. The ids that moved; the others are left alone."""
        moved = set(
            self.compare_and_set(
                session,
                model,
                [model.id.in_([row["id"] for row in rows])],
                target,
                now,
                sources,
                returning=model.id,
                synchronize=False,
                **common,
            ).scalars()
        )
        own = [row for row in rows if row["id"] in moved and len(row) > 1]
        if own:
            session.execute(update(model).execution_options(synchronize_session=False), own)
        return moved


def _job_stamps(target: str, now: datetime) -> dict[str, Any]:
    values: dict[str, Any] = {"last_status_change": now}
    if target == "QUEUED":
        values["queued"] = now
    elif target in TERMINAL_JOB_STATUSES:
        values["ended"] = now
    return values


def _exe_stamps(target: str, now: datetime) -> dict[str, Any]:
    return {"ended": now} if target in TERMINAL_EXE_STATUSES else {}


class _RecipeMachine(StateMachine):
    """A recipe has no status column: it is COMPLETED when `completed` is set."""

    def read(self, row: Any) -> str:
        return "COMPLETED" if row.completed is not None else "RUNNING"


JOB = StateMachine(
    "Job",
    JOB_STATUSES,
    [
        rule("PENDING BLOCKED", "QUEUED", "parents completed, or queued directly"),
        rule("PENDING", "BLOCKED", "a recipe parent failed or was canceled"),
        rule("BLOCKED", "PENDING", "a blocking parent was requeued"),
        rule("QUEUED", "RUNNING", "the scheduler launched an execution"),
        rule("RUNNING", "COMPLETED FAILED", "the execution finished"),
        rule("RUNNING", "QUEUED", "a retryable failure, or a vacated node, queues a new execution"),
        rule("FAILED CANCELED", "QUEUED", "requeue"),
        rule("FAILED CANCELED", "PENDING BLOCKED", "requeue of a recipe job whose parents are not complete"),
        rule("PENDING BLOCKED QUEUED RUNNING FAILED", "CANCELED", "cancel (completed jobs cannot be canceled)"),
    ],
    stamps=_job_stamps,
)

EXECUTION = StateMachine(
    "Job execution",
    EXE_STATUSES,
    [
        rule("QUEUED", "RUNNING", "launched"),
        rule("QUEUED RUNNING", "COMPLETED FAILED CANCELED", "finished, failed or canceled"),
    ],
    stamps=_exe_stamps,
)

RECIPE = _RecipeMachine(
    "Recipe",
    RECIPE_STATUSES,
    [rule("RUNNING", "COMPLETED", "every job completed"), rule("COMPLETED", "RUNNING", "a job was requeued")],
    field=None,
    stamps=lambda target, now: {"completed": now if target == "COMPLETED" else None},
)

INGEST = StateMachine(
    "Ingest",
    INGEST_STATUSES,
    [
        rule("TRANSFERRING", "TRANSFERRED ERRORED", "the transfer suffix was removed, or the file vanished"),
        rule("TRANSFERRED", "DEFERRED QUEUED DUPLICATE ERRORED", "rules decided what to do with the file"),
        rule("TRANSFERRED", "TRANSFERRED ERRORED", "a file recorded but not decided is recorded again, or vanished"),
        rule("ERRORED", "TRANSFERRED", "the file that failed, still in place, is tried again"),
        rule("QUEUED", "INGESTING ERRORED", "the ingest started"),
        rule("INGESTING", "INGESTING", "an abandoned ingest is claimed again"),
        rule("INGESTING", "INGESTED DUPLICATE ERRORED", "the ingest finished"),
        rule("ERRORED", "QUEUED", "the ingest is retried"),
    ],
)

NODE = StateMachine(
    "Node",
    NODE_STATES,
    [
        rule("READY DEGRADED OFFLINE", "PAUSED", "hold: running jobs finish, nothing new starts"),
        rule("PAUSED", "READY", "unhold"),
        rule("READY PAUSED DEGRADED", "OFFLINE", "no offers for a while, or the agent was lost"),
        rule("OFFLINE", "READY PAUSED", "offers again"),
        rule("READY", "DEGRADED", "errors or warnings"),
        rule("DEGRADED", "READY", "errors cleared"),
        rule("PAUSED", "DELETED", "delete: only a held and idle node"),
    ],
)

RESOURCE_POOL = StateMachine(
    "Resource pool",
    RESOURCE_POOL_STATES,
    [
        rule("ACTIVE", "FROZEN", "freeze: nothing new starts on the pool's agents"),
        rule("ACTIVE FROZEN", "DRAINING", "drain: running jobs are vacated and requeued"),
        rule("FROZEN DRAINING", "ACTIVE", "restore"),
    ],
    field="state",
)

SCALED_NODE = StateMachine(
    "Scaled node",
    SCALED_NODE_STATES,
    [
        rule("LAUNCHING", "RUNNING", "its agent registered"),
        rule("RUNNING", "DRAINING", "idle: the autoscaler held it"),
        rule("DRAINING", "RUNNING", "queued work came back: unheld"),
        rule("DRAINING", "TERMINATING", "held and idle: its provider is asked to stop it"),
        rule("TERMINATING", "TERMINATED", "the provider stopped it"),
        rule("LAUNCHING", "FAILING", "it did not register in time"),
        rule("LAUNCHING", "FAILED", "the provider could not launch it"),
        rule("FAILING", "FAILED", "the provider stopped it"),
    ],
    field="state",
    stamps=lambda target, now: {"state_changed": now},
)
