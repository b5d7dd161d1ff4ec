"""The allocator: every offer interval (or at once when resources are freed), each agent's unused,
unoffered resources go to one subscribed, unsuppressed framework whose filters do not refuse them,
taken in turn (a deviation: Mesos' allocator orders frameworks by their dominant resource share).
A framework is offered the unreserved resources and those reserved for its role; agents with GPUs only
to frameworks with the GPU_RESOURCES capability, revocable resources only to those with REVOCABLE_RESOURCES.
"""

from __future__ import annotations

import itertools
import logging
import time
from typing import Any

from workers.local_cluster.master import Master
from workers.local_cluster.model import Offer
from workers.local_cluster.resources import (
    add,
    allocatable,
    attributes_json,
    by_name,
    for_role,
    resources_json,
    without_revocable,
)

log = logging.getLogger(__name__)


class Allocator:
    def __init__(self, master: Master, offer_interval: float) -> None:
        self.master = master
        self.offer_interval = offer_interval
        self._round_robin = 0
        self._offer_numbers = itertools.count()

    def run(self) -> None:
        """The allocator thread: rounds until the master stops."""
        master = self.master
        while not master.stopping.is_set():
            master.wake.wait(self.offer_interval)
            master.wake.clear()
            if master.stopping.is_set():
                return
            try:
                with master.lock:
                    master.expire_frameworks()
                    master.retry_updates()
                    self.allocate()
            except Exception:
                log.exception("allocation round failed")

    def allocate(self) -> None:
        """One round: create offers and send each framework its batch (the caller holds the master's lock)."""
        master = self.master
        frameworks = [fw for fw in master.frameworks.values() if fw.stream is not None and not fw.suppressed]
        if not frameworks:
            return
        now = time.monotonic()
        batches: dict[str, list[dict[str, Any]]] = {}
        for agent in master.agents.values():
            available = agent.available()
            if agent.unreachable or not allocatable(available):
                continue
            has_gpus = by_name(agent.total).get("gpus", 0.0) > 0
            for k in range(len(frameworks)):
                fw = frameworks[(self._round_robin + k) % len(frameworks)]
                if has_gpus and not fw.has_capability("GPU_RESOURCES"):
                    continue  # as Mesos does: GPU agents are kept for frameworks that can use GPUs
                offered = for_role(available, fw.allocation_role)
                if not fw.has_capability("REVOCABLE_RESOURCES"):
                    offered = without_revocable(offered)
                if not allocatable(offered) or fw.refuses(agent.id, offered, now):
                    continue
                self._round_robin += 1
                role = fw.allocation_role if fw.multi_role else None
                offer = Offer(f"{master.id}-O{next(self._offer_numbers)}", fw.id, agent, offered, role)
                master.offers[offer.id] = offer
                agent.offered = add(agent.offered, offered)
                batches.setdefault(fw.id, []).append(self.offer_json(offer))
                break
        for fw_id, offers in batches.items():
            stream = master.frameworks[fw_id].stream
            assert stream is not None
            stream.send({"type": "OFFERS", "offers": {"offers": offers}})

    def offer_json(self, offer: Offer) -> dict[str, Any]:
        agent = offer.agent
        data: dict[str, Any] = {
            "id": {"value": offer.id},
            "framework_id": {"value": offer.framework_id},
            "agent_id": {"value": agent.id},
            "hostname": agent.hostname,
            "url": {
                "scheme": "http",
                "address": {"hostname": agent.hostname, "ip": self.master.advertised_ip, "port": agent.port},
                "path": "/slave(1)",
            },
            "resources": resources_json(offer.resources, offer.role),
        }
        if offer.role is not None:
            data["allocation_info"] = {"role": offer.role}
        if agent.attributes:
            data["attributes"] = attributes_json(agent.attributes)
        return data
