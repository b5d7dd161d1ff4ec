"""Model -> JSON, with the field names the specification shows. One function per shape."""

from __future__ import annotations

from typing import Any

from api.common import iso
from app import models as m


def _fields(obj: Any, names: tuple[str, ...]) -> dict[str, Any]:
    out = {}
    for name in names:
        value = getattr(obj, name)
        out[name] = iso(value) if hasattr(value, "tzinfo") and hasattr(value, "isoformat") else value
    return out


def error(e: m.Error | None) -> dict | None:
    if e is None:
        return None
    return _fields(e, ("id", "name", "title", "description", "category", "created", "last_modified"))


JOB_TYPE_BASE = (
    "id",
    "name",
    "version",
    "title",
    "description",
    "category",
    "author_name",
    "author_url",
    "is_system",
    "is_long_running",
    "is_active",
    "is_operational",
    "is_paused",
    "icon_code",
)
JOB_TYPE_LIST = JOB_TYPE_BASE + (
    "uses_docker",
    "docker_privileged",
    "docker_image",
    "revision_num",
    "priority",
    "max_scheduled",
    "timeout",
    "max_tries",
    "cpus_required",
    "mem_required",
    "disk_out_const_required",
    "disk_out_mult_required",
    "created",
    "archived",
    "paused",
    "last_modified",
)


def job_type_base(jt: m.JobType | None) -> dict | None:
    return None if jt is None else _fields(jt, JOB_TYPE_BASE)


def job_type(jt: m.JobType) -> dict:
    return _fields(jt, JOB_TYPE_LIST)


def job_type_rev(rev: m.JobTypeRevision | None, full: bool = False) -> dict | None:
    if rev is None:
        return None
    out = {"id": rev.id, "job_type": {"id": rev.job_type_id}, "revision_num": rev.revision_num}
    if full:
        out["interface"] = rev.interface
        out["created"] = iso(rev.created)
    return out


def trigger_rule(rule: m.TriggerRule | None) -> dict | None:
    if rule is None:
        return None
    return _fields(rule, ("id", "type", "name", "is_active", "configuration", "created", "archived", "last_modified"))


def trigger_event(ev: m.TriggerEvent | None) -> dict | None:
    if ev is None:
        return None
    rule = None
    if ev.rule_id is not None:
        rule = {"id": ev.rule_id}
        if ev.rule is not None:
            rule.update(type=ev.rule.type, name=ev.rule.name)
    return {"id": ev.id, "type": ev.type, "rule": rule, "occurred": iso(ev.occurred)}


JOB_BASE = (
    "id",
    "status",
    "priority",
    "num_exes",
    "timeout",
    "max_tries",
    "cpus_required",
    "mem_required",
    "disk_in_required",
    "disk_out_required",
    "created",
    "queued",
    "started",
    "ended",
    "last_status_change",
    "last_modified",
)


def job(j: m.Job) -> dict:
    out = {
        "id": j.id,
        "job_type": job_type_base(j.job_type),
        "job_type_rev": job_type_rev(j.job_type_rev),
        "event": trigger_event(j.event),
        "error": error(j.error),
    }
    out.update(_fields(j, JOB_BASE))
    return out


def job_brief(j: m.Job) -> dict:
    return {
        "id": j.id,
        "job_type": job_type_base(j.job_type),
        "job_type_rev": {"id": j.job_type_rev_id},
        "event": {"id": j.event_id},
        "error": error(j.error),
        "status": j.status,
        "priority": j.priority,
        "num_exes": j.num_exes,
    }


NODE_FIELDS = (
    "id",
    "hostname",
    "port",
    "slave_id",
    "pause_reason",
    "is_paused",
    "is_paused_errors",
    "is_active",
    "archived",
    "created",
    "last_offer",
    "last_modified",
)


def node(n: m.Node | None) -> dict | None:
    return None if n is None else _fields(n, NODE_FIELDS)


def node_brief(n: m.Node | None) -> dict | None:
    return None if n is None else {"id": n.id, "hostname": n.hostname, "port": n.port, "slave_id": n.slave_id}


EXE_TIMES = (
    "status",
    "command_arguments",
    "timeout",
    "pre_started",
    "pre_completed",
    "pre_exit_code",
    "job_started",
    "job_completed",
    "job_exit_code",
    "post_started",
    "post_completed",
    "post_exit_code",
    "created",
    "queued",
    "started",
    "ended",
    "last_modified",
)
EXE_RESOURCES = ("cpus_scheduled", "mem_scheduled", "disk_in_scheduled", "disk_out_scheduled", "disk_total_scheduled")


def job_exe(e: m.JobExecution) -> dict:
    out = {"id": e.id}
    out.update(_fields(e, EXE_TIMES))
    out["job"] = job_brief(e.job)
    out["node"] = node_brief(e.node)
    out["error"] = error(e.error)
    return out


def job_exe_detail(e: m.JobExecution, stdout_url: str | None = None, stderr_url: str | None = None) -> dict:
    out = job_exe(e)
    out["node"] = node(e.node)
    out["environment"] = e.environment or {}
    out.update(_fields(e, EXE_RESOURCES))
    out["results"] = e.results
    out["results_manifest"] = e.results_manifest
    out["current_stdout_url"] = stdout_url
    out["current_stderr_url"] = stderr_url
    return out


WORKSPACE_FIELDS = (
    "id",
    "name",
    "title",
    "description",
    "base_url",
    "is_active",
    "used_size",
    "total_size",
    "created",
    "archived",
    "last_modified",
)


def workspace(w: m.Workspace | None) -> dict | None:
    return None if w is None else _fields(w, WORKSPACE_FIELDS)


def workspace_detail(w: m.Workspace) -> dict:
    out = workspace(w)
    out["json_config"] = w.json_config
    return out


FILE_FIELDS = (
    "id",
    "file_name",
    "media_type",
    "file_size",
    "is_deleted",
    "uuid",
    "created",
    "deleted",
    "data_started",
    "data_ended",
    "geometry",
    "center_point",
    "meta_data",
    "countries",
    "last_modified",
)


def data_types(value: str | None) -> list[str]:
    return [t for t in (value or "").split(",") if t]


def file_url(f: m.ScaleFile) -> str | None:
    base = f.workspace.base_url if f.workspace is not None else None
    if not base or not f.file_path:
        return None
    return f"{base.rstrip('/')}/{f.file_path}"


def scale_file(f: m.ScaleFile) -> dict:
    out = {"id": f.id, "workspace": {"id": f.workspace_id, "name": f.workspace.name if f.workspace else None}}
    out.update(_fields(f, FILE_FIELDS))
    out["data_type"] = data_types(f.data_type)
    out["url"] = file_url(f)
    return out


def source_file(f: m.ScaleFile) -> dict:
    out = scale_file(f)
    out.update(is_parsed=f.is_parsed, parsed=iso(f.parsed))
    return out


def product_file(f: m.ScaleFile, jt: m.JobType | None = None) -> dict:
    out = scale_file(f)
    out.update(
        is_operational=f.is_operational,
        is_published=f.is_published,
        published=iso(f.published),
        unpublished=iso(f.unpublished),
        has_been_published=f.has_been_published,
        job_type=job_type_base(jt),
        job={"id": f.job_id},
        job_exe={"id": f.job_exe_id},
    )
    return out


def recipe_type_base(rt: m.RecipeType | None) -> dict | None:
    if rt is None:
        return None
    return _fields(rt, ("id", "name", "version", "title", "description"))


def recipe_type(rt: m.RecipeType) -> dict:
    return _fields(
        rt,
        (
            "id",
            "name",
            "version",
            "title",
            "description",
            "is_active",
            "definition",
            "revision_num",
            "created",
            "archived",
            "last_modified",
        ),
    )
