"""The scheduling loop's periodic work as a small table: each job runs when it is due (its interval has
passed, or something asked for it at once), in the table's order, on the loop's thread."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable


def never() -> bool:
    return False


@dataclass
class IntervalJob:
    name: str
    interval: Callable[[], float]  # read each pass, so a changed setting applies at once
    run: Callable[[], None]
    now_wanted: Callable[[], bool] = never  # due regardless of the interval
    enabled: Callable[[], bool] = lambda: True
    last: float = 0.0

    def due(self, now: float) -> bool:
        return self.enabled() and (self.now_wanted() or now - self.last >= self.interval())


def run_due(jobs: list[IntervalJob], now: float) -> list[str]:
    """Run every due job (marking it run at `now`); the names of those that ran."""
    ran = []
    for job in jobs:
        if job.due(now):
            job.last = now
            job.run()
            ran.append(job.name)
    return ran
