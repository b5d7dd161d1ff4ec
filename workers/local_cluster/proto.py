"""A TaskInfo read as a Mesos master reads it: the JSON parsed into protobuf messages the way stout's
`protobuf::parse` does (3rdparty/stout/include/stout/protobuf.hpp), then the checks of the master's
task validation (src/master/validation.cpp, src/common/validation.cpp) for the parts a command or
DOCKER task uses.

The messages are described from include/mesos/v1/mesos.proto: each field's label, and its JSON type,
enum names or message. A message described as None is accepted whole (the parts this system never
sends; `resources` are read by `resources.parse_resources`). As in stout, a required field missing, a
value of the wrong JSON type or an unknown name in a required enum fails the parse, and so the whole
call; an unknown field is ignored, and so is an unknown name in an optional enum (proto2). Those two are
returned as `ignored`, so tests can insist the scheduler sends neither.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

REQUIRED, OPTIONAL, REPEATED = "required", "optional", "repeated"

# message -> {field: (label, kind)}; kind: a scalar name, a tuple of enum names, a message name, or None
MESSAGES: dict[str, dict[str, tuple[str, Any]]] = {
    "TaskInfo": {
        "name": (REQUIRED, "string"),
        "task_id": (REQUIRED, "ID"),
        "agent_id": (REQUIRED, "ID"),
        "resources": (REPEATED, None),
        "executor": (OPTIONAL, None),
        "command": (OPTIONAL, "CommandInfo"),
        "container": (OPTIONAL, "ContainerInfo"),
        "health_check": (OPTIONAL, None),
        "check": (OPTIONAL, None),
        "kill_policy": (OPTIONAL, None),
        "data": (OPTIONAL, "bytes"),
        "labels": (OPTIONAL, None),
        "discovery": (OPTIONAL, None),
        "max_completion_time": (OPTIONAL, None),
        "limits": (OPTIONAL, None),
    },
    "ID": {"value": (REQUIRED, "string")},  # TaskID, AgentID
    "CommandInfo": {
        "uris": (REPEATED, "URI"),
        "environment": (OPTIONAL, "Environment"),
        "shell": (OPTIONAL, "bool"),
        "value": (OPTIONAL, "string"),
        "arguments": (REPEATED, "string"),
        "user": (OPTIONAL, "string"),
    },
    "URI": {
        "value": (REQUIRED, "string"),
        "executable": (OPTIONAL, "bool"),
        "extract": (OPTIONAL, "bool"),
        "cache": (OPTIONAL, "bool"),
        "output_file": (OPTIONAL, "string"),
    },
    "Environment": {"variables": (REPEATED, "Variable")},
    "Variable": {
        "name": (REQUIRED, "string"),
        "type": (OPTIONAL, ("UNKNOWN", "VALUE", "SECRET")),
        "value": (OPTIONAL, "string"),
        "secret": (OPTIONAL, None),
    },
    "ContainerInfo": {
        "type": (REQUIRED, ("DOCKER", "MESOS")),
        "volumes": (REPEATED, "Volume"),
        "hostname": (OPTIONAL, "string"),
        "docker": (OPTIONAL, "DockerInfo"),
        "mesos": (OPTIONAL, None),
        "network_infos": (REPEATED, None),
        "linux_info": (OPTIONAL, None),
        "rlimit_info": (OPTIONAL, None),
        "tty_info": (OPTIONAL, None),
    },
    "DockerInfo": {
        "image": (REQUIRED, "string"),
        "network": (OPTIONAL, ("HOST", "BRIDGE", "NONE", "USER")),
        "port_mappings": (REPEATED, "PortMapping"),
        "privileged": (OPTIONAL, "bool"),
        "parameters": (REPEATED, "Parameter"),
        "force_pull_image": (OPTIONAL, "bool"),
        "volume_driver": (OPTIONAL, "string"),
    },
    "PortMapping": {
        "host_port": (REQUIRED, "uint32"),
        "container_port": (REQUIRED, "uint32"),
        "protocol": (OPTIONAL, "string"),
    },
    "Parameter": {"key": (REQUIRED, "string"), "value": (REQUIRED, "string")},
    "Volume": {
        "mode": (REQUIRED, ("RW", "RO")),
        "container_path": (REQUIRED, "string"),
        "host_path": (OPTIONAL, "string"),
        "image": (OPTIONAL, None),
        "source": (OPTIONAL, None),
    },
}

JSON_TYPES = {"string": str, "bytes": str, "bool": bool, "uint32": int}


@dataclass
class Parsed:
    errors: list[str] = field(default_factory=list)  # the master refuses the call (400)
    ignored: list[str] = field(default_factory=list)  # a master silently drops these


def parse(message: str, value: Any, path: str = "", parsed: Parsed | None = None) -> Parsed:
    """Read `value` as the protobuf `message`; every problem found, not just the first."""
    parsed = parsed or Parsed()
    fields = MESSAGES[message]
    if not isinstance(value, dict):
        parsed.errors.append(f"Expecting a JSON object for '{path or message}'")
        return parsed
    for name, (label, _) in fields.items():
        if label == REQUIRED and name not in value:
            parsed.errors.append(f"Missing required fields: {path}{name}")
    for name, item in value.items():
        where = f"{path}{name}"
        if name not in fields:
            parsed.ignored.append(where)
            continue
        label, kind = fields[name]
        if label == REPEATED:
            if not isinstance(item, list):
                parsed.errors.append(f"Expecting a JSON array for field '{where}'")
                continue
            for index, element in enumerate(item):
                _parse_value(kind, element, f"{where}[{index}]", label, parsed)
        else:
            _parse_value(kind, item, where, label, parsed)
    return parsed


def _parse_value(kind: Any, value: Any, where: str, label: str, parsed: Parsed) -> None:
    if kind is None:
        return
    if isinstance(kind, tuple):
        if not isinstance(value, str):
            parsed.errors.append(f"Not expecting a JSON {_json_name(value)} for field '{where}'")
        elif value not in kind:
            if label == REQUIRED:
                parsed.errors.append(f"Failed to find enum for '{value}'")
            else:
                parsed.ignored.append(f"{where}={value}")
        return
    if kind in MESSAGES:
        parse(kind, value, f"{where}.", parsed)
        return
    expected = JSON_TYPES[kind]
    valid = isinstance(value, expected) and not (expected is int and isinstance(value, bool))
    if kind == "uint32" and valid and value < 0:
        valid = False
    if not valid:
        parsed.errors.append(f"Not expecting a JSON {_json_name(value)} for field '{where}'")


def _json_name(value: Any) -> str:
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, (int, float)):
        return "number"
    names: dict[type, str] = {str: "string", dict: "object", list: "array"}
    return names.get(type(value), "null")


def task_problems(ti: dict[str, Any]) -> list[str]:
    """What the master's task validation says of a TaskInfo that parsed (its TASK_ERROR message)."""
    problems = []
    if ("command" in ti) == ("executor" in ti):
        problems.append("Task should have at least one (but not both) of CommandInfo or ExecutorInfo present")
    command = ti.get("command") or {}
    for variable in (command.get("environment") or {}).get("variables") or []:
        kind = variable.get("type", "VALUE")
        if kind == "VALUE" and "value" not in variable:
            problems.append(
                f"Task's `CommandInfo` is invalid: Environment variable '{variable.get('name')}' "
                "of type 'VALUE' must have a value set"
            )
        elif kind == "UNKNOWN":
            problems.append("Task's `CommandInfo` is invalid: Environment variable of type 'UNKNOWN' is not allowed")
    container = ti.get("container")
    if container is not None:
        problems += [f"Task's `ContainerInfo` is invalid: {p}" for p in _container_problems(container)]
    return problems


def _container_problems(container: dict[str, Any]) -> list[str]:
    problems = []
    for volume in container.get("volumes") or []:
        if sum(key in volume for key in ("host_path", "image", "source")) != 1:
            problems.append("Invalid volume: Only one of them should be set: 'host_path', 'image' and 'source'")
    if container.get("type") == "DOCKER":
        docker = container.get("docker")
        if docker is None:
            problems.append("DockerInfo 'docker' is not set for DOCKER typed ContainerInfo")
        elif any(p.get("key") == "name" for p in docker.get("parameters") or []):
            problems.append("Parameter in DockerInfo must not be 'name'")
    return problems
