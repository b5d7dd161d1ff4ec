"""Resource arithmetic and the JSON of resources, attributes and ids, as the master and agents use them.

Resources are dicts of the scalar names in `app.mesos.RESOURCE_NAMES`; every result is rounded to 6
places so sums and differences of offers never drift.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from typing import Any, Iterable

from app.mesos import RESOURCE_NAMES

EPSILON = 1e-6
MIN_OFFER_CPUS = 0.01  # Mesos' minimum allocatable resources
MIN_OFFER_MEM = 32.0

Resources = dict[str, float]


def machine_resources(var_dir: str | os.PathLike, agents: int = 1) -> Resources:
    """This machine's CPUs, memory (MiB) and free disk of var_dir (MiB), divided among `agents`."""
    agents = max(1, int(agents))
    cpus = float(os.cpu_count() or 1)
    mem = 0.0
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemTotal:"):
                    mem = float(line.split()[1]) / 1024.0  # kB -> MiB
                    break
    except OSError:
        pass
    if not mem:
        try:
            mem = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**20
        except (ValueError, OSError, AttributeError):
            mem = 1024.0
    path = Path(var_dir)
    path.mkdir(parents=True, exist_ok=True)
    disk = shutil.disk_usage(path).free / 2**20
    return {
        "cpus": round(cpus / agents, 3),
        "mem": float(int(mem / agents)),
        "disk": float(int(disk / agents)),
    }


def parse_attributes(text: str | None) -> dict[str, Any]:
    """Mesos agent attribute syntax `name:value;name2:value2`; numeric values become SCALARs."""
    attributes: dict[str, Any] = {}
    for part in (text or "").split(";"):
        part = part.strip()
        if not part:
            continue
        name, sep, value = part.partition(":")
        if not sep or not name.strip():
            raise ValueError(f"bad attribute {part!r}; expected name:value")
        value = value.strip()
        try:
            attributes[name.strip()] = float(value)
        except ValueError:
            attributes[name.strip()] = value
    return attributes


def rounded(res: Resources) -> Resources:
    return {k: round(v, 6) for k, v in res.items()}


def add(a: Resources, b: Resources) -> Resources:
    out = dict(a)
    for k, v in b.items():
        out[k] = out.get(k, 0.0) + v
    return rounded(out)


def subtract(a: Resources, b: Resources) -> Resources:
    out = dict(a)
    for k, v in b.items():
        out[k] = max(0.0, out.get(k, 0.0) - v)
    return rounded(out)


def contains(have: Resources, need: Resources) -> bool:
    return all(v <= have.get(k, 0.0) + EPSILON for k, v in need.items())


def allocatable(res: Resources) -> bool:
    return res.get("cpus", 0.0) >= MIN_OFFER_CPUS or res.get("mem", 0.0) >= MIN_OFFER_MEM


def resources_json(res: Resources) -> list[dict[str, Any]]:
    return [
        {"name": name, "type": "SCALAR", "scalar": {"value": round(res[name], 3)}, "role": "*"}
        for name in RESOURCE_NAMES
        if res.get(name, 0.0) > EPSILON
    ]


def parse_resources(items: Iterable[dict[str, Any]]) -> tuple[Resources, list[str]]:
    """Sum SCALAR resources by name; return (sums, problems) for anything this cluster cannot offer."""
    sums: Resources = {}
    problems = []
    for item in items or []:
        name = item.get("name")
        kind = item.get("type", "SCALAR")
        if kind != "SCALAR" or name not in RESOURCE_NAMES:
            problems.append(f"resource {name!r} of type {kind} is not offered by this cluster")
            continue
        value = float((item.get("scalar") or {}).get("value", 0.0))
        if value < 0:
            problems.append(f"resource {name!r} is negative")
            continue
        sums[name] = sums.get(name, 0.0) + value
    return rounded(sums), problems


def attributes_json(attributes: dict[str, Any]) -> list[dict[str, Any]]:
    out = []
    for name, value in attributes.items():
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            out.append({"name": name, "type": "SCALAR", "scalar": {"value": float(value)}})
        else:
            out.append({"name": name, "type": "TEXT", "text": {"value": str(value)}})
    return out


def id_problem(value: Any) -> str | None:
    """Mesos' ID validation (a task id also names its sandbox directory); None when `value` is valid."""
    if not isinstance(value, str) or not value:
        return "ID must not be empty"
    if len(value) > 255:
        return "ID must not be longer than 255 characters"
    if value in (".", ".."):
        return "'.' and '..' are disallowed for ID"
    if "/" in value or "\\" in value or "\x00" in value:
        return "ID must not contain '/', '\\\\' or NUL"
    if any(not ch.isprintable() or ch.isspace() for ch in value):
        return "ID must not contain whitespace or unprintable characters"
    return None
