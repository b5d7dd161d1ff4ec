"""The scheduler package: a Mesos framework (pymesos) that matches offers to queued jobs.

core (SchedulerCore: the passes), loop (the table of interval jobs a pass runs when due), offers (held
offers and the hold/decline rule), running (launched tasks: totals, timeouts, recovery), report (counters
and node reports), callbacks (the pymesos Scheduler subclass). `python -m workers.scheduler` runs it.
"""

from workers.scheduler.callbacks import ScaleScheduler
from workers.scheduler.core import SchedulerCore, main
from workers.scheduler.offers import HeldOffer
from workers.scheduler.report import Counters
from workers.scheduler.running import RunningTask

__all__ = ["Counters", "HeldOffer", "RunningTask", "ScaleScheduler", "SchedulerCore", "main"]
