"""System status: the scheduler's latest report (Scheduler.status) joined with what the database knows.

`/status/` (the older shape) and `/v6/status/` (the newer one) are both built here; the API answers 503
when the report is missing or stale (`is_fresh`).
"""

from __future__ import annotations

from collections import defaultdict
import functools
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Iterable
from urllib.parse import urlsplit

from sqlalchemy import and_, func, or_, select, text
from sqlalchemy.orm import Session

from app.db import iso, utcnow
from app.mesos import RESOURCE_NAMES
from app.models import Error, Job, JobExecution, JobType, Node, Scheduler
from app.services.autoscale import recent_decisions
from app.services.nodes import blocking_pools_by_node, node_state
from app.services.operations import scheduler_row
from app.settings import ROOT, redact_secrets, settings

RECENT_EXECUTIONS = timedelta(hours=3)
RESOURCE_KINDS = ("offered", "total", "running", "free", "unavailable")
CELERY_QUEUE = "celery"  # Celery's default queue: a Redis list of that name
REDIS_TIMEOUT = 0.5

SCHEDULER_STATES = {
    "READY": {"name": "READY", "title": "Ready", "description": "Scheduler is ready to run new jobs."},
    "PAUSED": {
        "name": "PAUSED",
        "title": "Paused",
        "description": "Scheduler is paused, so no new jobs will be scheduled. Existing jobs will continue to run.",
    },
}
PER_SEC_METRICS = (
    "task_updates_per_sec",
    "new_offers_per_sec",
    "jobs_finished_per_sec",
    "jobs_launched_per_sec",
    "tasks_launched_per_sec",
    "offers_launched_per_sec",
    "tasks_finished_per_sec",
)


# ---------------------------------------------------------------- the scheduler's report


def status_age(scheduler: Scheduler, now: datetime | None = None) -> float | None:
    if scheduler.status is None or scheduler.status_updated is None:
        return None
    return ((now or utcnow()) - scheduler.status_updated).total_seconds()


def is_fresh(scheduler: Scheduler, now: datetime | None = None) -> bool:
    age = status_age(scheduler, now)
    return age is not None and age <= settings.SCHEDULER_STATUS_STALE


def stale_reason(scheduler: Scheduler, now: datetime | None = None) -> str:
    age = status_age(scheduler, now)
    if age is None:
        return "The scheduler has not reported its status: it is offline or has not started yet"
    return (
        f"The scheduler status is stale: last updated {iso(scheduler.status_updated)} ({age:.0f} s ago, "
        f"limit {settings.SCHEDULER_STATUS_STALE:g} s); the scheduler is offline or overloaded"
    )


def reported_nodes(status: dict | None, nodes: Iterable[Node]) -> dict[int, dict]:
    """node id -> the node's entry in the report (matched by node_id, else by agent id)."""
    entries = (status or {}).get("nodes") or []
    by_agent = {n.slave_id: n.id for n in nodes if n.slave_id}
    result: dict[int, dict] = {}
    for entry in entries:
        node_id = entry.get("node_id") or by_agent.get(entry.get("agent_id"))
        if node_id is not None:
            result[node_id] = entry
    return result


def _number(value: Any) -> float:
    return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else 0.0


def resources_by_name(entries: Iterable[dict]) -> dict[str, dict[str, float]]:
    """Sum report entries ({kind: {resource: amount}}) into the v6 layout {resource: {kind: amount}}."""
    names = list(RESOURCE_NAMES)
    entries = list(entries)
    for entry in entries:
        for kind in RESOURCE_KINDS:
            for name in entry.get(kind) or {}:
                if name not in names:
                    names.append(name)
    totals = {name: {kind: 0.0 for kind in RESOURCE_KINDS} for name in names}
    for entry in entries:
        for kind in RESOURCE_KINDS:
            for name, amount in (entry.get(kind) or {}).items():
                totals[name][kind] += _number(amount)
    return totals


def scheduled_resources(session: Session, node_ids: Iterable[int] | None = None) -> dict[int | None, dict[str, float]]:
    """Resources held by RUNNING executions, per node (the database's view of "scheduled")."""
    stmt = (
        select(
            JobExecution.node_id,
            func.sum(JobExecution.cpus_scheduled),
            func.sum(JobExecution.mem_scheduled),
            func.sum(JobExecution.disk_total_scheduled),
        )
        .where(JobExecution.status == "RUNNING")
        .group_by(JobExecution.node_id)
    )
    if node_ids is not None:
        stmt = stmt.where(JobExecution.node_id.in_(list(node_ids)))
    return {
        node_id: {"cpus": float(c or 0), "mem": float(m or 0), "disk": float(d or 0)}
        for node_id, c, m, d in session.execute(stmt)
    }


def _three(values: dict | None) -> dict[str, float]:
    return {name: _number((values or {}).get(name)) for name in RESOURCE_NAMES}


def resources_v3(reported: Iterable[dict], scheduled: Iterable[dict[str, float]]) -> dict[str, dict[str, float]] | None:
    """{total, scheduled, used} of the older API; None when the scheduler reported no resources."""
    reported = list(reported)
    if not reported:
        return None
    out = {"total": _three(None), "scheduled": _three(None), "used": _three(None)}
    for entry in reported:
        for name in RESOURCE_NAMES:
            out["total"][name] += _number((entry.get("total") or {}).get(name))
            out["used"][name] += _number((entry.get("running") or {}).get(name))
    for values in scheduled:
        for name in RESOURCE_NAMES:
            out["scheduled"][name] += values.get(name, 0.0)
    return out


def queue_depth(session: Session) -> int:
    return session.scalar(select(func.count()).select_from(Job).where(Job.status == "QUEUED")) or 0


# ---------------------------------------------------------------- executions per node


@dataclass
class ExecutionCount:
    node_id: int
    status: str
    category: str | None
    job_type_id: int
    count: int
    most_recent: datetime | None


def execution_counts(
    session: Session,
    node_ids: Iterable[int],
    started: datetime | None,
    ended: datetime | None,
    statuses: Iterable[str] = ("COMPLETED", "FAILED", "CANCELED"),
) -> list[ExecutionCount]:
    """Counts of executions per node, status, error category and job type.

    RUNNING executions count whatever the time range (most_recent = when the latest started);
    finished ones count when they ended in [started, ended] (most_recent = when the latest ended).
    """
    ids = list(node_ids)
    if not ids:
        return []
    finished = JobExecution.status.in_(list(statuses))
    if started is not None:
        finished = and_(finished, JobExecution.ended >= started)
    if ended is not None:
        finished = and_(finished, JobExecution.ended <= ended)
    stmt = (
        select(
            JobExecution.node_id,
            JobExecution.status,
            Error.category,
            Job.job_type_id,
            func.count(),
            func.max(JobExecution.ended),
            func.max(JobExecution.started),
        )
        .join(Job, Job.id == JobExecution.job_id)
        .outerjoin(Error, Error.id == JobExecution.error_id)
        .where(JobExecution.node_id.in_(ids), or_(JobExecution.status == "RUNNING", finished))
        .group_by(JobExecution.node_id, JobExecution.status, Error.category, Job.job_type_id)
    )
    rows = []
    for node_id, status, category, job_type_id, count, last_ended, last_started in session.execute(stmt):
        most_recent = last_started if status == "RUNNING" else last_ended
        rows.append(
            ExecutionCount(node_id, status, category if status == "FAILED" else None, job_type_id, count, most_recent)
        )
    return rows


def job_exe_counts(rows: Iterable[ExecutionCount]) -> dict[int, list[dict]]:
    """node id -> [{status, count, most_recent, category}] (the /nodes/status/ shape)."""
    merged: dict[tuple[int, str, str | None], list] = {}
    for r in rows:
        key = (r.node_id, r.status, r.category)
        entry = merged.setdefault(key, [0, None])
        entry[0] += r.count
        if r.most_recent is not None and (entry[1] is None or r.most_recent > entry[1]):
            entry[1] = r.most_recent
    result: dict[int, list[dict]] = defaultdict(list)
    for (node_id, status, category), (count, most_recent) in sorted(
        merged.items(), key=lambda kv: (kv[0][0], kv[0][1], kv[0][2] or "")
    ):
        result[node_id].append(
            {"status": status, "count": count, "most_recent": iso(most_recent), "category": category}
        )
    return result


def _by_job_type(counts: dict[int, int]) -> dict:
    return {
        "total": sum(counts.values()),
        "by_job_type": [{"job_type_id": jt, "count": c} for jt, c in sorted(counts.items())],
    }


def job_executions_v6(rows: Iterable[ExecutionCount]) -> dict[int, dict]:
    """node id -> {running, completed, failed: {total, data, algorithm, system}} (the /v6/status/ shape)."""
    tallies: dict[int, dict[str, dict[int, int]]] = defaultdict(lambda: defaultdict(lambda: defaultdict(int)))
    for r in rows:
        if r.status == "RUNNING":
            bucket = "running"
        elif r.status == "COMPLETED":
            bucket = "completed"
        elif r.status == "FAILED":
            bucket = (r.category or "SYSTEM").lower()
        else:
            continue
        tallies[r.node_id][bucket][r.job_type_id] += r.count
    result = {}
    for node_id, buckets in tallies.items():
        failed = {cat: _by_job_type(buckets.get(cat, {})) for cat in ("data", "algorithm", "system")}
        failed = {"total": sum(f["total"] for f in failed.values()), **failed}
        result[node_id] = {
            "running": _by_job_type(buckets.get("running", {})),
            "completed": _by_job_type(buckets.get("completed", {})),
            "failed": failed,
        }
    return result


def empty_job_executions_v6() -> dict:
    empty = _by_job_type({})
    return {
        "running": dict(empty),
        "completed": dict(empty),
        "failed": {"total": 0, "data": dict(empty), "algorithm": dict(empty), "system": dict(empty)},
    }


# ---------------------------------------------------------------- dependencies


def _health(ok: bool, msg: str, errors: list | None = None, warnings: list | None = None, **detail: Any) -> dict:
    return {"OK": ok, "detail": {"msg": msg, **detail}, "errors": errors or [], "warnings": warnings or []}


def database_health(session: Session) -> dict:
    try:
        session.execute(text("SELECT 1"))
    except Exception as exc:  # any driver error means the database is not usable
        session.rollback()
        return _health(False, "Database is unreachable", [{"DATABASE_ERROR": redact_secrets(str(exc))}])
    return _health(True, "Database alive and well")


# Sections of the specification's /v6/status/ for services this system does without, said plainly.
UNUSED_DEPENDENCIES = {
    "elasticsearch": _health(True, "Elasticsearch is not used: task logs are read from the agents' /files/read"),
    "silo": _health(True, "Silo is not used: job types are registered through the REST API"),
}
VAULT = {
    "status": "Not used",
    "sealed": False,
    "message": "No secrets vault: secrets are settings of each process (API_SECRET_KEY, MESOS_SECRET, ...).",
}


def idam_health() -> dict:
    """Who may do what: the API's bearer tokens (no GEOAxIS)."""
    if settings.API_AUTH:
        msg = "API tokens are required (roles viewer, operator, admin)"
    else:
        msg = "Authentication is off (API_AUTH): the API serves loopback only"
    return _health(True, msg, geoaxis_enabled=False, backends=["scale bearer tokens"] if settings.API_AUTH else [])


def database_update(session: Session) -> dict:
    """Whether the database schema is at the migrations' head (`make run` and the API's start migrate it)."""
    try:
        current = session.execute(text("SELECT version_num FROM alembic_version")).scalars().all()
    except Exception:  # noqa: BLE001 - no version table: never migrated
        session.rollback()
        current = []
    return {"is_completed": bool(current) and set(current) == set(migration_heads()), "completed": None}


@functools.lru_cache(maxsize=1)
def migration_heads() -> tuple[str, ...]:
    from alembic.config import Config
    from alembic.script import ScriptDirectory

    return tuple(ScriptDirectory.from_config(Config(str(ROOT / "alembic.ini"))).get_heads())


def services(snap: "Snapshot") -> list[dict]:
    """The processes behind the system, as far as the database knows them."""
    online = is_fresh(snap.scheduler, snap.now)
    return [
        {
            "name": "scheduler",
            "title": "Scheduler",
            "description": "Matches queued jobs to the cluster's offers and launches them (Mesos framework)",
            "actual_count": 1 if online else 0,
            "desired_count": 1,
        },
        {
            "name": "messaging",
            "title": "Messaging",
            "description": "Celery workers carrying out every state transition after launch",
            "actual_count": None,  # Celery workers are watched in Flower, not counted here
            "desired_count": snap.scheduler.num_message_handlers,
        },
    ]


def msg_queue_health(num_message_handlers: int) -> dict:
    """Ping the Redis broker and read the depth of Celery's default queue, with short timeouts."""
    import redis
    from redis.backoff import NoBackoff
    from redis.retry import Retry

    detail = {
        "num_message_handlers": num_message_handlers,
        "type": "redis",
        "queue_name": CELERY_QUEUE,
        "queue_depth": None,
        "region_name": "",
    }
    client = redis.Redis.from_url(
        settings.REDIS_URL,
        socket_timeout=REDIS_TIMEOUT,
        socket_connect_timeout=REDIS_TIMEOUT,
        retry=Retry(NoBackoff(), 0),
    )
    try:
        client.ping()
        detail["queue_depth"] = client.llen(CELERY_QUEUE)
    except (redis.RedisError, OSError) as exc:
        return _health(
            False,
            "Message queue is unreachable",
            [{"MSG_QUEUE_OFFLINE": redact_secrets(f"Redis at {_redacted(settings.REDIS_URL)}: {exc}")}],
            **detail,
        )
    finally:
        client.close()
    return _health(True, "Message queue is healthy", **detail)


def _redacted(url: str) -> str:
    """Where the broker is, without credentials."""
    parts = urlsplit(url)
    return f"{parts.hostname}:{parts.port or 6379}" if parts.hostname else parts.path


def logs_health() -> dict:
    """Task logs stay in the sandboxes on the agents and are read there when asked for: nothing here
    to be unhealthy (an agent that cannot be read is a node problem, and its logs answer 503 saying so)."""
    return _health(True, "Logs are read from the agents", logging_address="GET /files/read on each agent")


def nodes_health(states: list[str]) -> dict:
    if not states:
        return _health(False, "No nodes reported.", [{"NODES_OFFLINE": "No nodes reported."}])
    usable = sum(1 for s in states if s in ("READY", "DEGRADED"))
    offline = sum(1 for s in states if s == "OFFLINE")
    warnings = []
    if offline:
        warnings.append({"NODES_OFFLINE": f"{offline} of {len(states)} nodes are offline."})
    degraded = sum(1 for s in states if s == "DEGRADED")
    if degraded:
        warnings.append({"NODES_DEGRADED": f"{degraded} of {len(states)} nodes report errors."})
    if not usable:
        return _health(
            False, "No node can run new jobs.", [{"NODES_UNAVAILABLE": "Every node is offline or paused."}], warnings
        )
    return _health(True, "Enough nodes are online to function.", [], warnings)


# ---------------------------------------------------------------- the two documents


@dataclass
class Snapshot:
    """Everything both status shapes need, read once."""

    now: datetime
    scheduler: Scheduler
    status: dict
    nodes: list[Node]
    reported: dict[int, dict]


def snapshot(session: Session, now: datetime | None = None) -> Snapshot:
    scheduler = scheduler_row(session)
    status = scheduler.status or {}
    nodes = list(session.scalars(select(Node).where(Node.is_active.is_(True)).order_by(Node.hostname)))
    return Snapshot(now or utcnow(), scheduler, status, nodes, reported_nodes(status, nodes))


def status_v3(session: Session, snap: Snapshot) -> dict:
    master = snap.status.get("master") or {}
    out = {
        "master": {
            "is_online": bool(master.get("is_online", False)),
            "hostname": master.get("hostname") or snap.scheduler.master_hostname,
            "port": master.get("port") or snap.scheduler.master_port,
        },
        "scheduler": {
            "is_online": is_fresh(snap.scheduler, snap.now),
            "is_paused": snap.scheduler.is_paused,
            "hostname": snap.status.get("hostname"),
        },
        "queue_depth": queue_depth(session),
    }
    scheduled = scheduled_resources(session, [n.id for n in snap.nodes])
    resources = resources_v3(snap.reported.values(), scheduled.values())
    if resources is not None:
        out["resources"] = resources
    return out


def _scheduler_v6(snap: Snapshot) -> dict:
    reported_metrics = snap.status.get("metrics") or {}
    metrics = {name: _number(reported_metrics.get(name)) for name in PER_SEC_METRICS}
    metrics.update({k: v for k, v in reported_metrics.items() if k.endswith("_per_sec")})
    state = "PAUSED" if snap.scheduler.is_paused or snap.status.get("state") == "PAUSED" else "READY"
    master = snap.status.get("master") or {}
    return {
        "metrics": metrics,
        "hostname": snap.status.get("hostname"),
        "mesos": {
            "framework_id": snap.status.get("framework_id") or snap.scheduler.framework_id,
            "master_hostname": master.get("hostname") or snap.scheduler.master_hostname,
            "master_port": master.get("port") or snap.scheduler.master_port,
            "master_is_online": bool(master.get("is_online", False)),
        },
        "state": SCHEDULER_STATES[state],
        "warnings": list(snap.status.get("warnings") or []),
        "queue_mode": snap.scheduler.queue_mode,
        "auto_mode": snap.scheduler.auto_mode,
    }


def _node_v6(node: Node, snap: Snapshot, executions: dict, pools: dict) -> tuple[dict, str]:
    reported = snap.reported.get(node.id)
    state = node_state(node, snap.now, reported).to_dict()
    errors = list((reported or {}).get("errors") or [])
    warnings = list((reported or {}).get("warnings") or [])
    if node.is_paused_errors:
        errors.append(
            {
                "name": "SYSTEM_FAILURE_RATE",
                "title": "System Failure Rate",
                "description": node.pause_reason,
                "started": iso(node.last_modified),
                "last_updated": iso(node.last_modified),
            }
        )
    pool = pools.get(node.id)
    if pool is not None and state["name"] in ("READY", "DEGRADED"):
        description = f"Resource pool {pool.name} is {pool.state}: no new jobs start on its nodes."
        state = {"name": "PAUSED", "title": "Paused", "description": description}
        warnings.append(
            {
                "name": f"RESOURCE_POOL_{pool.state}",
                "title": f"Resource Pool {pool.state.title()}",
                "description": description,
                "started": iso(pool.last_modified),
                "last_updated": iso(pool.last_modified),
            }
        )
    entry = {
        "id": node.id,
        "hostname": node.hostname,
        "agent_id": node.slave_id,
        "is_active": node.is_active,
        "state": state,
        "errors": errors,
        "warnings": warnings,
        "node_tasks": [],
        "system_tasks": [],
        "num_offers": int(_number((reported or {}).get("num_offers"))) if reported else 0,
        "resources": resources_by_name([reported] if reported else []),
        "job_executions": executions.get(node.id) or empty_job_executions_v6(),
    }
    return entry, state["name"]


def status_v6(session: Session, snap: Snapshot) -> dict:
    node_ids = [n.id for n in snap.nodes]
    rows = execution_counts(session, node_ids, snap.now - RECENT_EXECUTIONS, None, statuses=("COMPLETED", "FAILED"))
    executions = job_executions_v6(rows)
    pools = blocking_pools_by_node(session)
    nodes, states = [], []
    for node in snap.nodes:
        entry, state = _node_v6(node, snap, executions, pools)
        nodes.append(entry)
        states.append(state)
    job_type_ids = sorted({r.job_type_id for r in rows})
    job_types = (
        [
            {
                "id": jt.id,
                "name": jt.name,
                "version": jt.version,
                "title": jt.title,
                "description": jt.description,
                "is_system": jt.is_system,
                "icon_code": jt.icon_code,
            }
            for jt in session.scalars(select(JobType).where(JobType.id.in_(job_type_ids)).order_by(JobType.id))
        ]
        if job_type_ids
        else []
    )
    reported_entries = list(snap.reported.values())
    return {
        "timestamp": iso(snap.scheduler.status_updated),
        "dependencies": {
            "logs": logs_health(),
            "msg_queue": msg_queue_health(snap.scheduler.num_message_handlers),
            "database": database_health(session),
            "nodes": nodes_health(states),
            **UNUSED_DEPENDENCIES,
            "idam": idam_health(),
        },
        "scheduler": _scheduler_v6(snap),
        "system": {"database_update": database_update(session), "services": services(snap)},
        "vault": VAULT,
        "num_offers": int(sum(_number(e.get("num_offers")) for e in reported_entries)),
        "queue_depth": queue_depth(session),
        "resources": resources_by_name(reported_entries),
        "job_types": job_types,
        "nodes": nodes,
        # Extension: the autoscaler's latest decisions, each with its reason (app/services/autoscale.py).
        "autoscaling": {"auto_mode": snap.scheduler.auto_mode, "decisions": recent_decisions(session)},
    }


def node_resources(session: Session, node: Node, now: datetime | None = None) -> tuple[dict | None, bool | None]:
    """({total, scheduled, used}, disconnected) for one node's details; (None, None) without a fresh report."""
    scheduler = scheduler_row(session)
    if not is_fresh(scheduler, now):
        return None, None
    reported = reported_nodes(scheduler.status, [node]).get(node.id)
    disconnected = node.is_active and (reported is None or not reported.get("online", False))
    if reported is None:
        return None, disconnected
    scheduled = scheduled_resources(session, [node.id]).values()
    return resources_v3([reported], scheduled), disconnected


def reported_nodes_if_fresh(session: Session, nodes: list[Node], now: datetime | None = None) -> dict[int, dict]:
    scheduler = scheduler_row(session)
    return reported_nodes(scheduler.status, nodes) if is_fresh(scheduler, now) else {}
