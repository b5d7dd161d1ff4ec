"""Offers the scheduler holds between passes."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass
class HeldOffer:
    offer_id: str
    agent_id: str
    hostname: str
    port: int
    resources: dict[str, float]
    attributes: dict
    received: float
