"""The scheduler package: a Mesos framework (pymesos) that matches offers to queued jobs.

core (SchedulerCore: the loop and its passes), offers (held offers), running (launched tasks),
report (status counters), callbacks (the pymesos Scheduler subclass). `python -m workers.scheduler` runs it.
"""

from workers.scheduler.callbacks import ScaleScheduler
from workers.scheduler.core import SchedulerCore, main
from workers.scheduler.offers import HeldOffer
from workers.scheduler.report import Counters
from workers.scheduler.running import RunningTask

__all__ = ["Counters", "HeldOffer", "RunningTask", "ScaleScheduler", "SchedulerCore", "main"]
