"""Workspaces: their records (checking, creating, editing) and their brokers, where a workspace's files
live and how they get there.

The semantics (path confinement, store, move, delete, sizes) are written once in `Broker`;
each broker type only says where its root directory is.
"""

from __future__ import annotations

import os
import shutil
from datetime import datetime
from pathlib import Path, PurePosixPath
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from app.db import utcnow
from app.models import Workspace
from app.services.fields import (
    BOOLEAN,
    STRING,
    FieldRule,
    check_fields,
    check_stable_name,
    flush_unique,
    require_object,
)
from app.settings import settings
from app.specs.base import Collector, SpecError, check_unknown_fields
from app.specs.workspace_config import validate_workspace_configuration


class WorkspacePathError(ValueError):
    """A path that would leave its workspace."""


def has_dotdot(path: str | Path) -> bool:
    return ".." in PurePosixPath(str(path)).parts


def mount_problem(mount: str, what: str) -> str | None:
    """An nfs-style `host:/path`: the export path is the server's (only `..` is refused in it); where it is
    mounted here (mount_path) must lie inside the allowed roots."""
    _, _, export = mount.partition(":")
    if has_dotdot(export):
        return f"{what} '{mount}' must not contain '..'"
    return outside_roots(mount_path(mount), what)


def outside_roots(path: str | Path, what: str) -> str | None:
    """Why `path` may not hold a workspace or a Strike directory (None when it may): `..` is refused, and
    the path, with its links followed, must lie inside one of settings.allowed_roots."""
    if has_dotdot(path):
        return f"{what} '{path}' must not contain '..'"
    resolved = Path(path).resolve()
    roots = settings.allowed_roots
    if any(resolved == root or root in resolved.parents for root in roots):
        return None
    names = ", ".join(str(r) for r in roots)
    return (
        f"{what} '{path}' is outside the allowed roots ({names}); an operator can add roots in WORKSPACE_ALLOWED_ROOTS"
    )


def broker_root_problem(json_config: dict) -> str | None:
    broker = (json_config or {}).get("broker") or {}
    if broker.get("type") == "nfs":
        return mount_problem(str(broker.get("mount", "")), "nfs mount")
    if broker.get("type") == "host":
        return outside_roots(broker.get("host_path", ""), "host_path")
    return None


class Broker:
    type_name = ""

    def __init__(self, config: dict) -> None:
        self.config = config

    def root(self) -> Path:
        raise NotImplementedError

    def resolve(self, rel_path: str) -> Path:
        """The absolute path of a workspace-relative path; refuses anything that leaves the workspace."""
        pure = PurePosixPath(rel_path)
        if not rel_path or pure.is_absolute() or ".." in pure.parts:
            raise WorkspacePathError(f"path '{rel_path}' must be relative and stay inside the workspace")
        root = self.root().resolve()
        target = root / pure
        # A symlink inside the workspace must not lead outside of it.
        real = target.resolve()
        if real != root and root not in real.parents:
            raise WorkspacePathError(f"path '{rel_path}' leads outside the workspace")
        return target

    def store(self, src: Path, rel_path: str, move: bool = False) -> Path:
        dest = self.resolve(rel_path)
        dest.parent.mkdir(parents=True, exist_ok=True)
        tmp = dest.with_name(f".{dest.name}.partial")
        if move:
            try:
                os.replace(src, dest)
                return dest
            except OSError:  # another filesystem: copy then remove
                pass
        shutil.copyfile(src, tmp)
        os.replace(tmp, dest)
        if move:
            os.unlink(src)
        return dest

    def delete(self, rel_path: str) -> None:
        self.resolve(rel_path).unlink(missing_ok=True)

    def move(self, from_rel: str, to_rel: str) -> Path:
        """Move a file inside the workspace. Idempotent: a file already moved is left where it is.

        An existing different file at the destination is never overwritten (FileExistsError).
        """
        src, dest = self.resolve(from_rel), self.resolve(to_rel)
        if src == dest:
            return dest
        if not src.exists():
            if dest.exists():
                return dest  # an earlier attempt moved it
            raise FileNotFoundError(f"'{from_rel}' does not exist in the workspace")
        if dest.exists():
            raise FileExistsError(f"'{to_rel}' already exists in the workspace")
        return self.store(src, to_rel, move=True)

    def sizes(self) -> tuple[int, int]:
        """(used bytes under the workspace, total bytes of its filesystem); walks the whole tree, so it runs
        in the background (tasks.maintenance.workspace_sizes), never inside a request."""
        root = self.root()
        used = 0
        for dirpath, _dirs, files in os.walk(root):
            for name in files:
                try:
                    used += os.lstat(os.path.join(dirpath, name)).st_size
                except OSError:
                    pass
        return used, shutil.disk_usage(root).total


class HostBroker(Broker):
    """A directory on every node (`host_path`)."""

    type_name = "host"

    def root(self) -> Path:
        return Path(self.config["host_path"])


class NfsBroker(Broker):
    """An NFS export `host:/path`, mounted under WORKSPACE_MOUNT_ROOT/<host>/<path>."""

    type_name = "nfs"

    def root(self) -> Path:
        return mount_path(self.config["mount"])


def mount_path(mount: str) -> Path:
    host, _, path = mount.partition(":")
    return settings.mount_root / host / path.lstrip("/")


BROKERS: dict[str, type[Broker]] = {cls.type_name: cls for cls in (HostBroker, NfsBroker)}


def broker_for(json_config: dict) -> Broker:
    broker_config = (json_config or {}).get("broker", {})
    cls = BROKERS.get(broker_config.get("type", ""))
    if cls is None:
        raise ValueError(f"unknown workspace broker type {broker_config.get('type')!r}")
    return cls(broker_config)


def shared_paths(session: Session) -> list[str]:
    """What every agent must see at the same path: the executions directory and each active workspace."""
    paths = [str(settings.executions_dir.resolve())]
    for config in session.scalars(select(Workspace.json_config).where(Workspace.is_active.is_(True))):
        try:
            paths.append(str(broker_for(config).root()))
        except (ValueError, KeyError):  # a broken configuration is the workspace's own problem
            continue
    return sorted(set(paths))


# ---------------------------------------------------------------- workspace records


WORKSPACE_FIELDS: dict[str, FieldRule] = {
    "title": STRING,
    "description": STRING,
    "base_url": STRING,
    "is_active": BOOLEAN,
}


def validate_workspace(session: Session, doc: Any, *, workspace: Workspace | None = None) -> dict[str, Any]:
    """Checked values of a new workspace (workspace=None) or of an edit of `workspace`."""
    doc = require_object(doc, "workspace")
    c = Collector()
    creating = workspace is None
    where = "workspace" if creating else f"workspace '{workspace.name}'"
    check_unknown_fields(doc, list(WORKSPACE_FIELDS) + ["json_config"] + (["name"] if creating else []), where, c)
    values = check_fields(doc, WORKSPACE_FIELDS, Workspace, where, c)
    if creating:
        name = check_stable_name(doc, "name", Workspace, where, c)
        if name is not None:
            values["name"] = name
            where = f"workspace '{name}'"
            if session.scalar(select(Workspace.id).where(Workspace.name == name)) is not None:
                c.add("DUPLICATE_NAME", f"{where} already exists")
        if doc.get("json_config") is None:
            c.add("MISSING_FIELD", f"{where}: 'json_config' is required")
    if doc.get("json_config") is not None or "json_config" in doc and not creating:
        try:
            values["json_config"] = validate_workspace_configuration(doc["json_config"])
        except SpecError as exc:
            c.absorb(exc, where)
        else:
            problem = broker_root_problem(values["json_config"])
            if problem:
                c.add("INVALID_PATH", f"{where}: {problem}")
    c.raise_if_any()
    return values


def refresh_workspace_sizes(workspace: Workspace) -> None:
    """used_size/total_size from the broker; unknown (unchanged) when the storage cannot be read."""
    try:
        workspace.used_size, workspace.total_size = broker_for(workspace.json_config).sizes()
    except (OSError, ValueError, KeyError):
        pass


def refresh_sizes(session: Session, only_unknown: bool = False) -> int:
    """Refresh the sizes of the active workspaces (only those not read yet, when `only_unknown`: a new or
    moved workspace); how many were read."""
    stmt = select(Workspace).where(Workspace.is_active.is_(True))
    if only_unknown:
        stmt = stmt.where(Workspace.used_size.is_(None))
    count = 0
    for workspace in session.scalars(stmt):
        refresh_workspace_sizes(workspace)  # one unreadable storage leaves only its own sizes unknown
        count += 1
    return count


def _apply_workspace_fields(workspace: Workspace, values: dict, now: datetime) -> None:
    for key, value in values.items():
        setattr(workspace, key, value)
    if "is_active" in values:
        if not values["is_active"] and workspace.archived is None:
            workspace.archived = now
        elif values["is_active"]:
            workspace.archived = None


def create_workspace(session: Session, doc: Any) -> Workspace:
    values = validate_workspace(session, doc)
    now = utcnow()
    workspace = Workspace(is_active=True, created=now, last_modified=now)
    _apply_workspace_fields(workspace, values, now)  # sizes: unknown until the background refresh
    session.add(workspace)
    flush_unique(session, f"workspace '{values['name']}' already exists")
    return workspace


def edit_workspace(session: Session, workspace: Workspace, doc: Any) -> None:
    values = validate_workspace(session, doc, workspace=workspace)
    now = utcnow()
    _apply_workspace_fields(workspace, values, now)
    if "json_config" in values:  # other storage: its sizes are read again in the background
        workspace.used_size = workspace.total_size = None
    workspace.last_modified = now
    session.flush()
