"""Resource arithmetic and the JSON of resources, attributes and ids, as the master and agents use them.

Resources are dicts keyed as Mesos' own text syntax names them: `cpus` for an unreserved scalar,
`cpus(scale)` for one statically reserved for role `scale` (gpus too, offered only to frameworks with
the GPU_RESOURCES capability). Every result is rounded to 6 places so sums and differences never drift.

Port ranges (`ports:[31000-31099]`, a RANGES resource) are held one key per port, `ports#31000` or
`ports(scale)#31000`, each worth 1, so the same sums, differences and containment cover them; the JSON
of offers and tasks turns them back into ranges. An agent has at most MAX_PORTS of them.

Two more marks in a key (and in the local cluster's --resources text): `disk[MOUNT:/mnt/d1]` and
`disk[PATH:/mnt/d2]` are disks with a source (a task takes all of a MOUNT disk or none of it:
`indivisible_problems`; part of a PATH disk, naming its source), and `cpus{revocable}` is what a Mesos
agent's resource estimator would offer as revocable (only to frameworks with REVOCABLE_RESOURCES).
"""

from __future__ import annotations

import functools
import os
import shutil
from pathlib import Path
from typing import Any, Iterable

from app.mesos import RESOURCE_NAMES

EPSILON = 1e-6
MIN_OFFER_CPUS = 0.01  # Mesos' minimum allocatable resources
MIN_OFFER_MEM = 32.0

Resources = dict[str, float]

SCALAR_NAMES = (*RESOURCE_NAMES, "gpus")
PORTS = "ports"
MAX_PORTS = 4096
DEFAULT_PORTS = (31000, 32000)  # what a Mesos agent offers when its --resources name no ports
UNRESERVED = "*"


def resource_key(name: str, role: str | None = None) -> str:
    return name if role in (None, "", UNRESERVED) else f"{name}({role})"


def port_key(port: int, role: str | None = None) -> str:
    return f"{resource_key(PORTS, role)}#{port}"


DISK_SOURCES = ("MOUNT", "PATH")
REVOCABLE_MARK = "{revocable}"


@functools.lru_cache(maxsize=1 << 16)  # an agent's few thousand keys are read on every offer
def split_key(key: str) -> tuple[str, str]:
    """(name, reservation role) of a key; the role of an unreserved resource is "*"."""
    for mark in "#[{":
        key = key.partition(mark)[0]
    name, _, role = key.partition("(")
    return name, role[:-1] if role else UNRESERVED


def disk_source(key: str) -> tuple[str, str] | None:
    """(MOUNT or PATH, root) of a disk key with a source, None for any other."""
    _, sep, rest = key.partition("[")
    if not sep:
        return None
    kind, _, root = rest.partition("]")[0].partition(":")
    return kind, root


def is_revocable(key: str) -> bool:
    return REVOCABLE_MARK in key


def scalar_key(name: str, role: str | None, source: tuple[str, str] | None = None, revocable: bool = False) -> str:
    key = resource_key(name, role)
    if source is not None:
        kind, root = source
        if name != "disk" or kind not in DISK_SOURCES or not root.startswith("/") or any(c in root for c in "[]{}#"):
            raise ValueError(f"bad disk source {kind}:{root}: only disk has one, MOUNT or PATH, an absolute path")
        key += f"[{kind}:{root}]"
    return key + (REVOCABLE_MARK if revocable else "")


def without_revocable(res: Resources) -> Resources:
    return {k: v for k, v in res.items() if not is_revocable(k)}


def indivisible_problems(pool: Resources, task: Resources) -> list[str]:
    """A MOUNT disk is used whole or not at all (Mesos' Resources::contains for disks with a source)."""
    problems = []
    for key, value in task.items():
        source = disk_source(key)
        if source is not None and source[0] == "MOUNT" and abs(pool.get(key, 0.0) - value) > EPSILON:
            whole = pool.get(key, 0.0)
            problems.append(f"Task uses {value:g} of MOUNT disk {source[1]}, which is offered whole ({whole:g})")
    return problems


@functools.lru_cache(maxsize=1 << 16)
def port_of(key: str) -> int | None:
    _, sep, port = key.partition("#")
    return int(port) if sep else None


def parse_ranges(text: str, what: str, highest: int = 65535) -> list[tuple[int, int]]:
    """`[31000-31099,32000-32000]` as [(begin, end)]; ValueError naming `what` otherwise."""
    text = text.strip()
    if not (text.startswith("[") and text.endswith("]")):
        raise ValueError(f"bad {what} {text!r}: expected ranges such as [31000-31099,32000-32010]")
    ranges = []
    for part in filter(None, (p.strip() for p in text[1:-1].split(","))):
        begin, _, end = part.partition("-")
        if not (begin.strip().isdigit() and end.strip().isdigit()) or int(begin) > int(end) or int(end) > highest:
            raise ValueError(f"bad {what} {text!r}: {part!r} is not a range begin-end (0 to {highest})")
        ranges.append((int(begin), int(end)))
    return ranges


def port_resources(ranges: Iterable[tuple[int, int]], role: str | None, what: str) -> Resources:
    ports = {port_key(port, role): 1.0 for begin, end in ranges for port in range(begin, end + 1)}
    if len(ports) > MAX_PORTS:
        raise ValueError(f"{what}: {len(ports)} ports; the local cluster keeps at most {MAX_PORTS} per agent")
    return ports


def parse_resource_text(text: str) -> Resources:
    """Mesos agent `--resources` syntax: `cpus:2;mem:1024;cpus(scale):1;gpus:1;ports:[31000-31099]`, and
    the local cluster's marks `disk[MOUNT:/mnt/d1]:1000`, `disk[PATH:/mnt/d2]:1000` and `cpus{revocable}:2`."""
    out: Resources = {}
    for part in (text or "").split(";"):
        part = part.strip()
        if not part:
            continue
        key, sep, value = part.rpartition(":") if "[" in part.partition(":")[0] else part.partition(":")
        name, role = split_key(key.strip())
        if sep and name == PORTS:
            out.update(port_resources(parse_ranges(value, "resource"), role, f"resource {part!r}"))
            continue
        if not sep or name not in SCALAR_NAMES:
            raise ValueError(
                f"bad resource {part!r}; expected name:value or name(role):value, name one of "
                f"{SCALAR_NAMES} (disk[MOUNT:/path], disk[PATH:/path], name{{revocable}}) or ports:[begin-end,...]"
            )
        try:
            number = float(value)
        except ValueError:
            raise ValueError(f"bad resource {part!r}: {value!r} is not a number") from None
        key = scalar_key(name, role, disk_source(key), is_revocable(key.strip()))
        out[key] = out.get(key, 0.0) + number
    return rounded(out)


def ranges_of(ports: Iterable[int]) -> list[dict[str, int]]:
    """Sorted ports as Mesos' Value.Ranges: [{begin, end}], adjacent ports merged."""
    out: list[dict[str, int]] = []
    for port in sorted(ports):
        if out and out[-1]["end"] == port - 1:
            out[-1]["end"] = port
        else:
            out.append({"begin": port, "end": port})
    return out


def describe(res: Resources) -> str:
    """Resources for a message: the scalars by key, the ports as ranges."""
    scalars = {k: v for k, v in res.items() if port_of(k) is None}
    return f"{scalars} ports {ports_text(res)}" if len(scalars) < len(res) else str(scalars)


def ports_text(res: Resources) -> str:
    """The ports of `res` as /state shows them: `[31000-31099, 32000-32000]`."""
    spans = ranges_of(p for k, v in res.items() if v > EPSILON and (p := port_of(k)) is not None)
    return "[" + ", ".join(f"{r['begin']}-{r['end']}" for r in spans) + "]"


def for_role(res: Resources, role: str) -> Resources:
    """What a framework allocated to `role` may be offered: unreserved resources and those reserved for it."""
    return {k: v for k, v in res.items() if split_key(k)[1] in (UNRESERVED, role)}


def reserved_by_role(res: Resources) -> dict[str, Resources]:
    """As /master/state shows them: {role: {name: value}} of the reserved resources."""
    out: dict[str, Resources] = {}
    for key, value in res.items():
        name, role = split_key(key)
        if role != UNRESERVED:
            out.setdefault(role, {})[name] = value
    return out


def by_name(res: Resources) -> Resources:
    """Sums of the scalars by resource name, whatever the reservation (ports: see ports_text)."""
    out: Resources = {}
    for key, value in res.items():
        if port_of(key) is not None:
            continue
        name = split_key(key)[0]
        out[name] = out.get(name, 0.0) + value
    return rounded(out)


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
    """Mesos agent attribute syntax `name:value;name2:value2`: numeric values become SCALARs, `[1-4,8-9]`
    RANGES and `{a,b}` a SET (both kept as their text, which attributes_json reads)."""
    attributes: dict[str, Any] = {}
    for part in (text or "").split(";"):
        part = part.strip()
        if not part:
            continue
        name, sep, value = part.partition(":")
        if not sep or not name.strip():
            raise ValueError(f"bad attribute {part!r}; expected name:value")
        value = value.strip()
        if value.startswith("["):
            parse_ranges(value, f"attribute {part!r}", 2**64 - 1)
        try:
            attributes[name.strip()] = float(value)
        except ValueError:
            attributes[name.strip()] = value
    return attributes


def rounded(res: Resources) -> Resources:
    return {k: round(v, 6) for k, v in res.items()}


def add(a: Resources, b: Resources) -> Resources:
    """a + b, rounding only what changed (every Resources value is already rounded)."""
    out = dict(a)
    for k, v in b.items():
        out[k] = round(out.get(k, 0.0) + v, 6)
    return out


def subtract(a: Resources, b: Resources) -> Resources:
    out = dict(a)
    for k, v in b.items():
        out[k] = round(max(0.0, out.get(k, 0.0) - v), 6)
    return out


def contains(have: Resources, need: Resources) -> bool:
    return all(v <= have.get(k, 0.0) + EPSILON for k, v in need.items())


def allocatable(res: Resources) -> bool:
    sums = by_name(res)
    return sums.get("cpus", 0.0) >= MIN_OFFER_CPUS or sums.get("mem", 0.0) >= MIN_OFFER_MEM


def resources_json(res: Resources, allocation_role: str | None = None) -> list[dict[str, Any]]:
    """Offered resources in the pre-reservation-refinement format a master sends frameworks without the
    RESERVATION_REFINEMENT capability (`role` names the reservation), each with `allocation_info` under
    MULTI_ROLE."""
    out = []
    ports: dict[str, list[int]] = {}
    scalars = []
    for key, value in res.items():
        if value <= EPSILON:
            continue
        port = port_of(key)
        if port is None:
            scalars.append(key)
        else:
            ports.setdefault(split_key(key)[1], []).append(port)
    for key in sorted(scalars):
        name, role = split_key(key)
        entry: dict[str, Any] = {"name": name, "type": "SCALAR", "scalar": {"value": round(res[key], 3)}, "role": role}
        source = disk_source(key)
        if source is not None:
            kind, root = source
            entry["disk"] = {"source": {"type": kind, kind.lower(): {"root": root}}}
        if is_revocable(key):
            entry["revocable"] = {}
        out.append(entry)
    for role, numbers in sorted(ports.items()):
        out.append({"name": PORTS, "type": "RANGES", "ranges": {"range": ranges_of(numbers)}, "role": role})
    if allocation_role is not None:
        for entry in out:
            entry["allocation_info"] = {"role": allocation_role}
    return out


def _reservation_role(item: dict[str, Any]) -> str:
    reservations = item.get("reservations") or []
    if reservations:  # refined format: the last reservation is the one that counts
        return str(reservations[-1].get("role") or UNRESERVED)
    return str(item.get("role") or UNRESERVED)


def parse_resources(items: Iterable[dict[str, Any]], allocation_role: str | None = None) -> tuple[Resources, list[str]]:
    """Sum a task's SCALAR resources by key; return (sums, problems) for anything this cluster cannot offer.

    With `allocation_role` (a MULTI_ROLE framework), every resource must carry the `allocation_info` of the
    offer it was cut from, as a real master demands."""
    sums: Resources = {}
    problems = []
    for item in items or []:
        name = item.get("name")
        kind = item.get("type", "SCALAR")
        is_ports = name == PORTS and kind == "RANGES"
        if not is_ports and (kind != "SCALAR" or name not in SCALAR_NAMES):
            problems.append(f"resource {name!r} of type {kind} is not offered by this cluster")
            continue
        if allocation_role is not None:
            allocated = (item.get("allocation_info") or {}).get("role")
            if allocated is None:
                problems.append(f"resource {name!r} must have 'allocation_info' set (the framework is MULTI_ROLE)")
                continue
            if allocated != allocation_role:
                problems.append(
                    f"resource {name!r} is allocated to role {allocated!r}, the offer to {allocation_role!r}"
                )
                continue
        if is_ports:
            try:
                spans = [(int(r["begin"]), int(r["end"])) for r in (item.get("ranges") or {}).get("range") or []]
                sums.update(port_resources(spans, _reservation_role(item), "task ports"))
            except (KeyError, TypeError, ValueError) as exc:
                problems.append(f"resource 'ports' has invalid ranges: {exc}")
            continue
        value = float((item.get("scalar") or {}).get("value", 0.0))
        if value < 0:
            problems.append(f"resource {name!r} is negative")
            continue
        source = (item.get("disk") or {}).get("source")
        source_type = str((source or {}).get("type"))
        root = str(((source or {}).get(source_type.lower()) or {}).get("root"))
        try:
            disk = (source_type, root) if source else None
            key = scalar_key(str(name), _reservation_role(item), disk, "revocable" in item)
        except ValueError as exc:
            problems.append(str(exc))
            continue
        sums[key] = sums.get(key, 0.0) + value
    return rounded(sums), problems


def attributes_json(attributes: dict[str, Any]) -> list[dict[str, Any]]:
    out = []
    for name, value in attributes.items():
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            out.append({"name": name, "type": "SCALAR", "scalar": {"value": float(value)}})
        elif isinstance(value, str) and value.startswith("["):
            spans = [{"begin": b, "end": e} for b, e in parse_ranges(value, f"attribute {name}", 2**64 - 1)]
            out.append({"name": name, "type": "RANGES", "ranges": {"range": spans}})
        elif isinstance(value, str) and value.startswith("{") and value.endswith("}"):
            items = [item.strip() for item in value[1:-1].split(",") if item.strip()]
            out.append({"name": name, "type": "SET", "set": {"item": items}})
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
