"""The scheduler's status report: counters and their rates, and what it knows of each node."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

from app.mesos import RESOURCE_NAMES


@dataclass
class Counters:
    new_offers: int = 0
    jobs_launched: int = 0
    tasks_launched: int = 0
    offers_launched: int = 0
    task_updates: int = 0
    jobs_finished: int = 0
    orphan_tasks_killed: int = 0  # alive after their execution ended (a LOST task that came back)

    def as_dict(self) -> dict[str, int]:
        return dict(self.__dict__)

    def rates(self, previous: "Counters", elapsed: float) -> dict[str, float]:
        """Each counter's growth per second since `previous`, as `<name>_per_sec`."""
        elapsed = max(elapsed, 1e-6)
        return {f"{k}_per_sec": round((v - getattr(previous, k)) / elapsed, 3) for k, v in self.as_dict().items()}


def node_report(
    *,
    agent_id: str,
    hostname: str | None,
    node_id: int | None,
    total: dict[str, float],
    offered: dict[str, float],
    running: dict[str, float],
    last_offer: float | None,
    now: float,
    offline_after: float,
    errors: list[dict[str, Any]] | None = None,
) -> dict[str, Any]:
    """One node of the report: online while it sent an offer in the last `offline_after` seconds; its
    total is the most it was ever seen with (offered + held by our tasks). `errors` (a failed shared
    storage probe) make its node DEGRADED."""
    online = last_offer is not None and now - last_offer < offline_after
    free = {k: round(max(total[k] - offered[k] - running[k], 0.0), 3) for k in RESOURCE_NAMES}
    return {
        "agent_id": agent_id,
        "hostname": hostname,
        "node_id": node_id,
        "online": online,
        "last_offer": datetime.fromtimestamp(last_offer, timezone.utc).isoformat() if last_offer else None,
        "total": total,
        "offered": offered,
        "running": running,
        "free": free,
        "unavailable": dict.fromkeys(RESOURCE_NAMES, 0.0) if online else dict(total),
        "errors": list(errors or []),
    }
