"""Offers the scheduler holds between passes, and the rule for how long it holds them.

The pymesos thread adds and rescinds; the loop takes a snapshot, launches on some agents' offers and
declines the others once they are held longer than SCHEDULER_OFFER_HOLD (ready for the next queued job
until then, without hoarding them).
"""

from __future__ import annotations

import threading
from collections import defaultdict
from dataclasses import dataclass
from typing import Any, Iterable

from app.mesos import RESOURCE_NAMES, scalar_resources


@dataclass
class HeldOffer:
    offer_id: str
    agent_id: str
    hostname: str
    port: int
    resources: dict[str, float]
    attributes: dict
    received: float


def held_offer(offer: dict[str, Any], now: float) -> HeldOffer:
    """A HeldOffer from a Mesos Offer (JSON); TEXT and SCALAR attributes keep their value."""
    address = offer.get("url", {}).get("address", {})
    attributes = {
        a.get("name"): (a.get("text", {}) or {}).get("value", a.get("scalar", {}).get("value"))
        for a in offer.get("attributes", []) or []
    }
    return HeldOffer(
        offer["id"]["value"],
        offer["agent_id"]["value"],
        offer.get("hostname", ""),
        int(address.get("port", 5051)),
        scalar_resources(offer.get("resources", [])),
        attributes,
        now,
    )


class HeldOffers:
    """The offers held now, safe to change from the pymesos thread and the loop."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._offers: dict[str, HeldOffer] = {}

    def add(self, offers: Iterable[dict[str, Any]], now: float) -> int:
        held = [held_offer(o, now) for o in offers]
        with self._lock:
            for h in held:
                self._offers[h.offer_id] = h
        return len(held)

    def rescind(self, offer_id: str) -> None:
        with self._lock:
            self._offers.pop(offer_id, None)

    def drop_agent(self, agent_id: str) -> None:
        with self._lock:
            for offer_id in [i for i, o in self._offers.items() if o.agent_id == agent_id]:
                del self._offers[offer_id]

    def clear(self) -> None:
        with self._lock:
            self._offers.clear()

    def forget(self, offers: Iterable[HeldOffer]) -> None:
        """Offers used by a launch or declined: the master no longer holds them for us."""
        with self._lock:
            for o in offers:
                self._offers.pop(o.offer_id, None)

    def snapshot(self) -> list[HeldOffer]:
        with self._lock:
            return list(self._offers.values())

    def __len__(self) -> int:
        return len(self._offers)


def by_agent(offers: Iterable[HeldOffer]) -> dict[str, list[HeldOffer]]:
    grouped: dict[str, list[HeldOffer]] = defaultdict(list)
    for o in offers:
        grouped[o.agent_id].append(o)
    return grouped


def offered_resources(offers: Iterable[HeldOffer]) -> dict[str, dict[str, float]]:
    """The resources offered per agent (summed over its offers)."""
    totals: dict[str, dict[str, float]] = defaultdict(lambda: dict.fromkeys(RESOURCE_NAMES, 0.0))
    for o in offers:
        for k in RESOURCE_NAMES:
            totals[o.agent_id][k] += o.resources[k]
    return totals


def to_decline(
    grouped: dict[str, list[HeldOffer]], launched_agents: set[str], now: float, hold: float
) -> list[HeldOffer]:
    """The hold rule: an agent's offers not used by this pass are declined once held `hold` seconds."""
    return [
        o
        for agent_id, agent_offers in grouped.items()
        if agent_id not in launched_agents
        for o in agent_offers
        if now - o.received >= hold
    ]
