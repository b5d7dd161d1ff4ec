"""pymesos driver callbacks."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from pymesos import Scheduler

if TYPE_CHECKING:
    from workers.scheduler.core import SchedulerCore

log = logging.getLogger("scale.scheduler")


class ScaleScheduler(Scheduler):
    """pymesos callbacks: record and wake the loop, nothing more."""

    def __init__(self, core: "SchedulerCore") -> None:
        self.core = core

    def registered(self, driver, framework_id, master_info):
        self.core.on_registered(framework_id["value"], master_info, reregistered=False)

    def reregistered(self, driver, master_info):
        self.core.on_registered(driver.framework_id, master_info, reregistered=True)

    def disconnected(self, driver):
        self.core.on_disconnected()

    def resourceOffers(self, driver, offers):
        self.core.on_offers(offers)

    def offerRescinded(self, driver, offer_id):
        self.core.on_rescind(offer_id["value"])

    def statusUpdate(self, driver, status):
        self.core.on_update(status)

    def slaveLost(self, driver, agent_id):
        self.core.on_agent_lost(agent_id["value"])

    def executorLost(self, driver, executor_id, agent_id, status):
        # Only that executor's tasks are affected (a command task's executor id is its task id); their
        # own updates follow, and the reconcile asked for here finds any that does not.
        self.core.on_executor_lost(executor_id["value"], agent_id["value"])

    def processHeartBeat(self, driver):
        self.core.on_event()

    def error(self, driver, message):
        log.error("master reported an error: %s", message)
        self.core.warn("mesos-error", "Mesos error", str(message))
        self.core.fail(str(message))  # Mesos sends ERROR only when the framework must stop
