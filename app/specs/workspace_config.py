"""Workspace configuration 1.0: which broker stores and retrieves a workspace's files.

Broker types: "nfs" (`mount: host:/file/path`, as documented) and "host" (`host_path`: an absolute
directory on every node, the broker the embedded local cluster uses).
"""

from __future__ import annotations

from app.specs.base import (
    Collector,
    check_mount,
    check_unknown_fields,
    check_version,
    get_object,
    get_str,
    root_object,
)

WHAT = "workspace configuration"
BROKER_FIELDS = {
    "nfs": ("type", "mount"),
    "host": ("type", "host_path"),
}


def validate_workspace_configuration(doc: dict | None) -> dict:
    """Normalize a workspace configuration or raise SpecError listing every problem."""
    c = Collector()
    doc = root_object(doc, WHAT, c, allow_none=False)
    c.raise_if_any()
    version = check_version(doc, WHAT, c)
    check_unknown_fields(doc, ("version", "broker"), WHAT, c)
    broker = get_object(doc, "broker", WHAT, c, required=True)
    normalized_broker: dict = {}
    if broker is not None:
        where = f"{WHAT}: broker"
        broker_type = get_str(broker, "type", where, c, required=True, non_blank=True)
        if broker_type is not None and broker_type not in BROKER_FIELDS:
            c.add("UNKNOWN_BROKER_TYPE", f"{where}: type '{broker_type}' is not one of {', '.join(BROKER_FIELDS)}")
        elif broker_type is not None:
            check_unknown_fields(broker, BROKER_FIELDS[broker_type], where, c)
            normalized_broker["type"] = broker_type
            if broker_type == "nfs":
                normalized_broker["mount"] = check_mount(broker, "mount", where, c)
            else:
                host_path = get_str(broker, "host_path", where, c, required=True, non_blank=True)
                if host_path is not None and not host_path.startswith("/"):
                    c.add("INVALID_PATH", f"{where}: host_path '{host_path}' must be an absolute path")
                normalized_broker["host_path"] = host_path
    c.raise_if_any()
    return {"version": version, "broker": normalized_broker}
