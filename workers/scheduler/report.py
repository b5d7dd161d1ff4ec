"""Counters of the status report."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass
class Counters:
    new_offers: int = 0
    jobs_launched: int = 0
    tasks_launched: int = 0
    offers_launched: int = 0
    task_updates: int = 0
    jobs_finished: int = 0

    def as_dict(self) -> dict[str, int]:
        return dict(self.__dict__)
