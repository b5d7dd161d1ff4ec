"""Strike configuration 1.0: which NFS directory to watch and how matching files are ingested.

`lookup_workspaces_by_name(names) -> {name: {"id": int, "is_active": bool}}` is passed in for the
workspaces that exist; it is called once with every workspace name the configuration uses.
"""

from __future__ import annotations

import posixpath
import re
from typing import Any, Callable, Mapping

from app.specs.base import (
    Collector,
    check_mount,
    check_unknown_fields,
    check_version,
    describe,
    get_list,
    get_str,
    get_str_list,
    root_object,
)

WHAT = "Strike configuration"

LookupWorkspacesByName = Callable[[list[str]], Mapping[str, Mapping[str, Any]]]


def normalize_workspace_path(value: str, where: str, c: Collector, key: str = "workspace_path") -> str | None:
    """A path inside a workspace: relative, no '..', not blank.

    A leading '/' is read as "from the workspace root" and removed, because the documentation's own
    examples write workspace_path as "/wrksp/path" while defining it as a relative path. '..' is
    refused so a file can never be stored outside its workspace.
    """
    if not value.strip():
        c.add("BLANK_VALUE", f"{where}: '{key}' must not be blank")
        return None
    parts = value.strip().replace("\\", "/").split("/")
    if ".." in parts:
        c.add("INVALID_PATH", f"{where}: '{key}' '{value}' must not contain '..'")
        return None
    relative = posixpath.normpath("/".join(p for p in parts if p not in ("", ".")) or ".")
    if relative in (".", ""):
        c.add("INVALID_PATH", f"{where}: '{key}' '{value}' must name a directory inside the workspace")
        return None
    return relative


def check_workspace_names(
    wanted: list[tuple[str, str]], c: Collector, lookup_workspaces_by_name: LookupWorkspacesByName | None
) -> None:
    """Each (where, workspace name) must name an existing, active workspace."""
    if lookup_workspaces_by_name is None or not wanted:
        return
    found = lookup_workspaces_by_name(sorted({name for _, name in wanted}))
    for where, name in wanted:
        info = found.get(name)
        if info is None:
            c.add("UNKNOWN_WORKSPACE", f"{where}: workspace '{name}' does not exist")
        elif not info.get("is_active", False):
            c.add("INACTIVE_WORKSPACE", f"{where}: workspace '{name}' is not active")


def validate_strike_configuration(
    doc: dict | None, *, lookup_workspaces_by_name: LookupWorkspacesByName | None
) -> dict:
    """Normalize a Strike configuration (defaults filled) or raise SpecError listing every problem.

    With `lookup_workspaces_by_name=None` the workspaces are not checked (a running Strike re-reading
    its stored, already checked configuration).
    """
    c = Collector()
    doc = root_object(doc, WHAT, c, allow_none=False)
    c.raise_if_any()
    version = check_version(doc, WHAT, c)
    # mount_on (where the mount is attached locally) appears in stored Strike configurations of the
    # documentation's ingest details; it is kept, not required.
    check_unknown_fields(doc, ("version", "mount", "mount_on", "transfer_suffix", "files_to_ingest"), WHAT, c)

    mount = check_mount(doc, "mount", WHAT, c)
    suffix = get_str(doc, "transfer_suffix", WHAT, c, required=True, non_blank=True)
    if suffix is not None and suffix != suffix.strip():
        c.add("BLANK_VALUE", f"{WHAT}: 'transfer_suffix' must not start or end with whitespace")

    raw_rules = get_list(doc, "files_to_ingest", WHAT, c, required=True)
    if raw_rules is not None and not raw_rules:
        c.add("EMPTY_LIST", f"{WHAT}: 'files_to_ingest' must contain at least one rule")

    rules: list[dict] = []
    wanted: list[tuple[str, str]] = []
    for i, rule in enumerate(raw_rules or []):
        where = f"{WHAT}: files_to_ingest[{i}]"
        if not isinstance(rule, dict):
            c.add("INVALID_TYPE", f"{where} must be an object, got {describe(rule)}")
            continue
        check_unknown_fields(rule, ("filename_regex", "data_types", "workspace_path", "workspace_name"), where, c)
        regex = get_str(rule, "filename_regex", where, c, required=True, non_blank=True)
        if regex is not None:
            try:
                re.compile(regex)
            except re.error as exc:
                c.add("INVALID_REGEX", f"{where}: filename_regex '{regex}' is not a valid regular expression ({exc})")
                regex = None
        data_types = get_str_list(rule, "data_types", where, c)
        raw_path = get_str(rule, "workspace_path", where, c, required=True)
        path = normalize_workspace_path(raw_path, where, c) if raw_path is not None else None
        workspace_name = get_str(rule, "workspace_name", where, c, required=True, non_blank=True)
        if workspace_name is not None:
            wanted.append((where, workspace_name))
        rules.append(
            {
                "filename_regex": regex,
                "data_types": data_types,
                "workspace_path": path,
                "workspace_name": workspace_name,
            }
        )

    check_workspace_names(wanted, c, lookup_workspaces_by_name)
    mount_on = get_str(doc, "mount_on", WHAT, c)
    if mount_on is not None and not mount_on.startswith("/"):
        c.add("INVALID_PATH", f"{WHAT}: 'mount_on' '{mount_on}' must be an absolute path")

    c.raise_if_any()
    normalized = {"version": version, "mount": mount, "transfer_suffix": suffix, "files_to_ingest": rules}
    if mount_on is not None:
        normalized["mount_on"] = mount_on
    return normalized
