"""Offers the scheduler holds between passes, and the rule for how long it holds them.

The pymesos thread adds and rescinds; the loop takes a snapshot, launches on some agents' offers and
declines the others once they are held longer than SCHEDULER_OFFER_HOLD (ready for the next queued job
until then, without hoarding them).

A real master offers several entries of one name (unreserved and reserved for our role, each with the
`allocation_info` of a MULTI_ROLE framework). Only entries a task can take a part of count (SCALAR cpus,
mem and disk; not revocable, shared, persistent volumes or MOUNT disks), and a task's resources are cut from those entries
with every field but the amount copied, so the master finds them in the offer.
"""

from __future__ import annotations

import threading
from collections import defaultdict
from dataclasses import dataclass
from typing import Any, Iterable

from app.mesos import RESOURCE_NAMES

EPSILON = 1e-6


@dataclass
class HeldOffer:
    offer_id: str
    agent_id: str
    hostname: str
    port: int
    agent_url: str  # the agent's own HTTP endpoint (files/read), from the offer's `url`
    resources: dict[str, float]
    attributes: dict
    received: float
    entries: list[dict[str, Any]]  # the usable resource entries, as offered


def usable(entry: dict[str, Any]) -> bool:
    """An offered entry a task may take part of."""
    if entry.get("name") not in RESOURCE_NAMES or entry.get("type", "SCALAR") != "SCALAR":
        return False
    if "revocable" in entry or "shared" in entry:
        return False
    if (entry.get("disk") or {}).get("persistence"):  # a persistent volume is used whole, by its owner
        return False
    source = (entry.get("disk") or {}).get("source") or {}
    return source.get("type", "PATH") == "PATH"  # a MOUNT disk is used whole or not at all


def _amount(entry: dict[str, Any]) -> float:
    return float((entry.get("scalar") or {}).get("value", 0.0))


def attribute_value(attribute: dict[str, Any]) -> Any:
    """A Mesos Attribute's value: TEXT and SCALAR as they are, RANGES and SET in Mesos' own text syntax
    (`[1-4,8-9]`, `{a,b}`), the form an agent's --attributes flag gives them."""
    kind = attribute.get("type")
    if kind == "RANGES":
        spans = (attribute.get("ranges") or {}).get("range") or []
        return "[" + ",".join(f"{r.get('begin')}-{r.get('end')}" for r in spans) + "]"
    if kind == "SET":
        return "{" + ",".join(str(item) for item in (attribute.get("set") or {}).get("item") or []) + "}"
    if kind == "SCALAR":
        return (attribute.get("scalar") or {}).get("value")
    return (attribute.get("text") or {}).get("value")


def held_offer(offer: dict[str, Any], now: float) -> HeldOffer:
    """A HeldOffer from a Mesos Offer (JSON), with attributes of every type."""
    url = offer.get("url") or {}
    address = url.get("address") or {}
    port = int(address.get("port", 5051))
    attributes = {a.get("name"): attribute_value(a) for a in offer.get("attributes", []) or []}
    entries = [r for r in offer.get("resources") or [] if usable(r)]
    sums = dict.fromkeys(RESOURCE_NAMES, 0.0)
    for r in entries:
        sums[r["name"]] += _amount(r)
    return HeldOffer(
        offer["id"]["value"],
        offer["agent_id"]["value"],
        offer.get("hostname", ""),
        port,
        f"{url.get('scheme', 'http')}://{address.get('ip') or address.get('hostname') or offer.get('hostname')}:{port}",
        sums,
        attributes,
        now,
        entries,
    )


def _reserved(entry: dict[str, Any]) -> bool:
    return bool(entry.get("reservations")) or entry.get("role", "*") != "*"


@dataclass
class _Slot:
    entry: dict[str, Any]
    left: float


class AgentPool:
    """The usable entries of one agent's held offers, from which each launched task takes its share."""

    def __init__(self, offers: Iterable[HeldOffer]) -> None:
        slots = [_Slot(dict(e), _amount(e)) for o in offers for e in o.entries]
        # Reserved for us first: a reservation exists so that our jobs use it.
        self._slots = sorted(slots, key=lambda slot: not _reserved(slot.entry))

    def take(self, need: dict[str, float]) -> list[dict[str, Any]]:
        """Task resources for `need` (name -> amount), copied from the entries they come out of."""
        out: list[dict[str, Any]] = []
        for name in RESOURCE_NAMES:
            wanted = need.get(name, 0.0)
            for slot in self._slots:
                if wanted <= EPSILON:
                    break
                if slot.entry["name"] != name or slot.left <= EPSILON:
                    continue
                part = min(wanted, slot.left)
                slot.left -= part
                wanted -= part
                out.append({**slot.entry, "scalar": {"value": round(part, 6)}})
        return out


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
