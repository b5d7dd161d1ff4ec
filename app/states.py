"""Allowed state transitions, in one place per entity.

Each machine is a list of small rules: a rule names the states it leaves from, the states it
enters, and why. A transition is allowed when some rule covers it; otherwise the caller gets
`InvalidTransition` with a readable reason (the API turns it into a 400).
"""
from __future__ import annotations

from dataclasses import dataclass


class InvalidTransition(Exception):
    pass


@dataclass(frozen=True)
class Rule:
    from_states: frozenset[str]
    to_states: frozenset[str]
    why: str


def rule(from_states: str, to_states: str, why: str) -> Rule:
    return Rule(frozenset(from_states.split()), frozenset(to_states.split()), why)


class StateMachine:
    def __init__(self, entity: str, states: tuple[str, ...], rules: list[Rule]) -> None:
        self.entity = entity
        self.states = states
        self.rules = rules
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


JOB = StateMachine(
    "Job",
    ("PENDING", "BLOCKED", "QUEUED", "RUNNING", "FAILED", "COMPLETED", "CANCELED"),
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
)

EXECUTION = StateMachine(
    "Job execution",
    ("QUEUED", "RUNNING", "FAILED", "COMPLETED", "CANCELED"),
    [
        rule("QUEUED", "RUNNING", "launched"),
        rule("QUEUED RUNNING", "COMPLETED FAILED CANCELED", "finished, failed or canceled"),
    ],
)

RECIPE = StateMachine(
    "Recipe",
    ("RUNNING", "COMPLETED"),
    [rule("RUNNING", "COMPLETED", "every job completed"), rule("COMPLETED", "RUNNING", "a job was requeued")],
)

INGEST = StateMachine(
    "Ingest",
    ("TRANSFERRING", "TRANSFERRED", "DEFERRED", "QUEUED", "INGESTING", "INGESTED", "ERRORED", "DUPLICATE"),
    [
        rule("TRANSFERRING", "TRANSFERRED ERRORED", "the transfer suffix was removed, or the file vanished"),
        rule("TRANSFERRED", "DEFERRED QUEUED DUPLICATE ERRORED", "rules decided what to do with the file"),
        rule("QUEUED", "INGESTING ERRORED", "the ingest started"),
        rule("INGESTING", "INGESTED DUPLICATE ERRORED", "the ingest finished"),
        rule("ERRORED", "QUEUED", "the ingest is retried"),
    ],
)

NODE = StateMachine(
    "Node",
    ("READY", "PAUSED", "DEGRADED", "OFFLINE", "DELETED"),
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
    ("ACTIVE", "FROZEN", "DRAINING"),
    [
        rule("ACTIVE", "FROZEN", "freeze: nothing new starts on the pool's agents"),
        rule("ACTIVE FROZEN", "DRAINING", "drain: running jobs are vacated and requeued"),
        rule("FROZEN DRAINING", "ACTIVE", "restore"),
    ],
)

TERMINAL_JOB_STATUSES = frozenset({"FAILED", "COMPLETED", "CANCELED"})
TERMINAL_EXE_STATUSES = frozenset({"FAILED", "COMPLETED", "CANCELED"})
