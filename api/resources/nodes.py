"""Node services (GET /nodes/, GET|PUT|PATCH /nodes/<id>/, GET /nodes/status/) and the cluster operator
routes: hold, unhold, vacate and delete nodes; resource pools with freeze, restore and drain; auto mode."""

from __future__ import annotations

from collections import defaultdict
from datetime import timedelta
from typing import Any, Callable

from flask import request
from flask_restx import Namespace, Resource, fields
from sqlalchemy import select
from sqlalchemy.orm import Session, selectinload

from api.openapi import non_empty
from api.session import get_session
from api import serializers as ser
from api.common import (
    get_or_404,
    NAME_PATTERN,
    ApiError,
    apply_order,
    list_params,
    query_param,
    repeated_param,
    bad_request,
    body_bool,
    body_int,
    body_number,
    body_str,
    check_fields,
    filter_time,
    iso,
    json_body,
    filter_in,
    paginate_list,
    param_bool,
    param_str_list,
    time_range,
    write,
)
from app.db import utcnow
from app.models import Job, JobExecution, Node, ResourcePool
from app.services import autoscale, operations, status
from app.services.nodes import NODE_STATES, is_online, node_state, pool_node_ids

ns = Namespace("nodes", path="/nodes", description="Nodes (Mesos agents): pause, hold, vacate, delete")
pools_ns = Namespace(
    "resource-pools",
    path="/resource-pools",
    description="Resource pools: groups of nodes (by hostname pattern or agent attribute) to freeze, drain and restore",
)
cluster_ns = Namespace("cluster", path="/cluster", description="Cluster-wide operator settings")
NAMESPACES = [ns, pools_ns, cluster_ns]

NODE_ORDER_FIELDS: dict[str, Any] = {
    name: getattr(Node, name)
    for name in (
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
}
NODE_ORDER_FIELDS["host_name"] = Node.hostname  # the name the specification's example orders by
NODE_WRITE_FIELDS = ("hostname", "port", "pause_reason", "is_paused", "is_active")
DEFAULT_STATUS_RANGE = timedelta(hours=3)

_NOT_FOUND = {404: "No node with this id"}

# Bodies, documented so Swagger's "Try it out" can send them (the routes check them field by field).
_node_fields = {
    "hostname": fields.String(min_length=1, max_length=250),
    "port": fields.Integer(min=1, max=65535),
    "is_paused": fields.Boolean(description="Pause (hold) the node, or resume it"),
    "pause_reason": fields.String(max_length=250),
    "is_active": fields.Boolean(description="false archives the node"),
}
node_edit = non_empty(ns.model("NodeEdit", _node_fields))
node_replace = ns.model(
    "NodeReplace",
    {
        **_node_fields,
        "hostname": fields.String(required=True, min_length=1, max_length=250),
        "port": fields.Integer(required=True, min=1, max=65535),
        "is_paused": fields.Boolean(required=True),
    },
)
node_hold = ns.model("NodeHold", {"pause_reason": fields.String(max_length=250, description="Why the node is held")})
_pool_fields_doc = {
    "name": fields.String(max_length=50, pattern=r"^[A-Za-z0-9_.-]+$"),
    "hostname_pattern": fields.String(max_length=250, description='Shell-style, e.g. "gpu-*.example.com"'),
    "attribute_name": fields.String(max_length=100, description="A Mesos agent attribute the nodes carry"),
    "attribute_value": fields.String(max_length=250),
    "provider": fields.String(description="Node provider of an autoscaled pool (e.g. local)"),
    "min_nodes": fields.Integer(min=0),
    "max_nodes": fields.Integer(min=0, description="> 0 with a provider: the pool is autoscaled"),
    "node_cpus": fields.Float(min=0),
    "node_mem": fields.Float(min=0, description="MiB"),
    "node_disk": fields.Float(min=0, description="MiB"),
}
pool_edit = pools_ns.model("ResourcePoolEdit", _pool_fields_doc)
pool_create = pools_ns.model(
    "ResourcePoolCreate",
    {**_pool_fields_doc, "name": fields.String(required=True, max_length=50, pattern=r"^[A-Za-z0-9_.-]+$")},
)
auto_mode_edit = cluster_ns.model("AutoModeEdit", {"auto_mode": fields.Boolean(required=True)})
_NOT_ALLOWED = {400: "Not allowed in the node's current state (the message says why)", **_NOT_FOUND}


# ---------------------------------------------------------------- node shapes


def _running_executions(session: Session, node_ids: list[int]) -> dict[int, list[JobExecution]]:
    if not node_ids:
        return {}
    rows = session.scalars(
        select(JobExecution)
        .options(
            selectinload(JobExecution.job).selectinload(Job.job_type),
            selectinload(JobExecution.job).selectinload(Job.error),
            selectinload(JobExecution.node),
            selectinload(JobExecution.error),
        )
        .where(JobExecution.node_id.in_(node_ids), JobExecution.status == "RUNNING")
        .order_by(JobExecution.started, JobExecution.id)
    )
    by_node: dict[int, list[JobExecution]] = defaultdict(list)
    for exe in rows:
        by_node[exe.node_id].append(exe)
    return by_node


def _running_json(exe: JobExecution) -> dict:
    out = ser.job_exe(exe)
    out.update({name: getattr(exe, name) for name in ser.EXE_RESOURCES})
    return out


def node_details(session: Session, node: Node) -> dict:
    out = ser.node(node)
    resources, disconnected = status.node_resources(session, node)
    if resources is not None:
        out["resources"] = resources
    if disconnected:
        out["disconnected"] = True
    out["job_exes_running"] = [_running_json(e) for e in _running_executions(session, [node.id]).get(node.id, [])]
    return out


def _node_changes(body: dict, required: tuple[str, ...] = ()) -> dict:
    check_fields(body, NODE_WRITE_FIELDS, required=required)
    if not body:
        raise bad_request("No fields were specified. Fields: " + ", ".join(NODE_WRITE_FIELDS))
    changes: dict[str, Any] = {}
    problems = []
    for name, read in (
        ("hostname", lambda: body_str(body, "hostname", 250)),
        ("port", lambda: body_int(body, "port", 1)),
        ("pause_reason", lambda: body_str(body, "pause_reason", 250)),
        ("is_paused", lambda: body_bool(body, "is_paused", nullable=False)),
        ("is_active", lambda: body_bool(body, "is_active", nullable=False)),
    ):
        if name not in body:
            continue
        try:
            changes[name] = read()
        except ApiError as exc:
            problems.append(exc.detail)
    if "hostname" in changes and not (changes["hostname"] or "").strip():
        problems.append("Field 'hostname' must not be empty")
    if changes.get("port") is not None and changes["port"] > 65535:
        problems.append("Field 'port' must be at most 65535")
    if problems:
        raise bad_request("; ".join(problems))
    return changes


def _update_node(node_id: int, changes: dict):
    session = get_session()
    node = get_or_404(session, Node, node_id, "Node")

    def apply():
        try:
            operations.update_node(session, node, changes)
        except ValueError as exc:
            raise bad_request(str(exc)) from None

    write(session, apply)
    return node_details(session, node), 201, {"Location": request.base_url}


# ---------------------------------------------------------------- /nodes/


@ns.route("/")
class NodeList(Resource):
    @ns.doc(
        params={
            **list_params(NODE_ORDER_FIELDS),
            "include_inactive": query_param("Include archived nodes (default false)", "boolean"),
            "hostname": repeated_param("Only the node(s) of this host name: a lookup by host name"),
            "state": repeated_param("Only nodes in this state", enum=list(NODE_STATES)),
        }
    )
    def get(self):
        """All active nodes (with include_inactive=true, archived ones too), each with its state."""
        session = get_session()
        started, ended = time_range()
        states = param_str_list("state", tuple(NODE_STATES))
        stmt = select(Node)
        if not param_bool("include_inactive", False) and "DELETED" not in states:
            stmt = stmt.where(Node.is_active.is_(True))
        stmt = filter_in(stmt, Node.hostname, param_str_list("hostname"))
        stmt = filter_time(stmt, Node.last_modified, started, ended)
        stmt = apply_order(stmt, NODE_ORDER_FIELDS, ["hostname"], Node.id.asc())
        nodes = list(session.scalars(stmt))
        scheduler = operations.scheduler_row(session)
        reported = status.reported_nodes(scheduler.status, nodes) if status.is_fresh(scheduler) else {}
        now = utcnow()
        shown = [(node, node_state(node, now, reported.get(node.id))) for node in nodes]
        if states:  # derived from the scheduler's report, so filtered here rather than in SQL
            shown = [(node, state) for node, state in shown if state.name in states]
        return paginate_list(shown, lambda pair: {**ser.node(pair[0]), "state": pair[1].to_dict()})


@ns.route("/status/")
class NodeStatus(Resource):
    @ns.doc(
        params={
            "started": "Executions that ended from (default 3 hours ago)",
            "ended": "until (default now)",
            "page": "Page number",
            "page_size": "1-1000",
        }
    )
    def get(self):
        """Per active node: online flag, execution counts by status (RUNNING ones whatever the range), running executions."""
        session = get_session()
        started, ended = time_range(default_started=utcnow() - DEFAULT_STATUS_RANGE)
        nodes = list(session.scalars(select(Node).where(Node.is_active.is_(True)).order_by(Node.hostname, Node.id)))
        ids = [n.id for n in nodes]
        counts = status.job_exe_counts(status.execution_counts(session, ids, started, ended))
        running = _running_executions(session, ids)
        reported = status.reported_nodes_if_fresh(session, nodes)
        now = utcnow()
        return paginate_list(
            nodes,
            lambda n: {
                "node": ser.node(n),
                "is_online": is_online(n, now, reported.get(n.id)),
                "job_exe_counts": counts.get(n.id, []),
                "job_exes_running": [_running_json(e) for e in running.get(n.id, [])],
            },
        )


@ns.route("/<int:node_id>/")
class NodeDetails(Resource):
    @ns.doc(responses=_NOT_FOUND)
    def get(self, node_id: int):
        """A node with its resources (when the scheduler reported them) and running executions."""
        session = get_session()
        return node_details(session, get_or_404(session, Node, node_id, "Node"))

    @ns.doc(responses={201: "Updated", 400: "Unknown, missing or invalid fields", **_NOT_FOUND})
    @ns.expect(node_replace)
    def put(self, node_id: int):
        """Replace hostname, port and is_paused (required), pause_reason and is_active (optional)."""
        body = json_body()
        changes = _node_changes(body, required=("hostname", "port", "is_paused"))
        changes.setdefault("pause_reason", None)
        return _update_node(node_id, changes)

    @ns.doc(responses={201: "Updated", 400: "Unknown or invalid fields, or none", **_NOT_FOUND})
    @ns.expect(node_edit)
    def patch(self, node_id: int):
        """Pause (is_paused with pause_reason), un-pause (clears pause_reason and is_paused_errors), archive
        (is_active=false) or rename a node."""
        return _update_node(node_id, _node_changes(json_body()))

    @ns.doc(responses={200: "Deleted (archived)", **_NOT_ALLOWED})
    def delete(self, node_id: int):
        """Delete a node: only a held node with no running executions. It is archived and stays out of
        scheduling even if its agent offers again, until it is re-activated (PATCH is_active=true)."""
        session = get_session()
        node = get_or_404(session, Node, node_id, "Node")
        write(session, lambda: operations.delete_node(session, node))
        return node_details(session, node)


@ns.route("/<int:node_id>/hold/")
class NodeHold(Resource):
    @ns.doc(responses={200: "Held", **_NOT_ALLOWED})
    @ns.expect(node_hold)
    def post(self, node_id: int):
        """Hold: nothing new starts on the node; running executions finish."""
        body = json_body()
        check_fields(body, ["pause_reason"])
        reason = body_str(body, "pause_reason", 250)
        session = get_session()
        node = get_or_404(session, Node, node_id, "Node")
        write(session, lambda: operations.hold_node(session, node, reason))
        return node_details(session, node)


@ns.route("/<int:node_id>/unhold/")
class NodeUnhold(Resource):
    @ns.doc(responses={200: "Back to normal", **_NOT_ALLOWED})
    def post(self, node_id: int):
        """Unhold: the node takes new executions again (clears pause_reason and is_paused_errors)."""
        check_fields(json_body(), [])
        session = get_session()
        node = get_or_404(session, Node, node_id, "Node")
        write(session, lambda: operations.unhold_node(session, node))
        return node_details(session, node)


@ns.route("/<int:node_id>/vacate/")
class NodeVacate(Resource):
    @ns.doc(responses={200: "Running executions marked to be killed and requeued", **_NOT_FOUND})
    def post(self, node_id: int):
        """Vacate: kill every running execution on the node and requeue its job without spending a try.
        Hold the node first, or the scheduler may place new work on it. Answers the node and the
        ids of the executions vacated (`vacated_job_exe_ids`)."""
        check_fields(json_body(), [])
        session = get_session()
        node = get_or_404(session, Node, node_id, "Node")
        vacated = write(session, lambda: operations.vacate_node(session, node))
        out = node_details(session, node)
        out["vacated_job_exe_ids"] = vacated
        return out


# ---------------------------------------------------------------- /resource-pools/


def _pool_json(
    pool: ResourcePool, node_ids: list[int], nodes: dict[int, Node], running: dict[int, int], scaled: dict[int, list]
) -> dict:
    running_total = sum(running.get(i, 0) for i in node_ids)
    return {
        "id": pool.id,
        "name": pool.name,
        "hostname_pattern": pool.hostname_pattern,
        "attribute_name": pool.attribute_name,
        "attribute_value": pool.attribute_value,
        "state": pool.state,
        "is_drained": pool.state == "DRAINING" and running_total == 0,
        "nodes": [
            {**ser.node_brief(nodes[i]), "is_paused": nodes[i].is_paused, "job_exes_running": running.get(i, 0)}
            for i in node_ids
        ],
        "num_nodes": len(node_ids),
        "job_exes_running": running_total,
        **{name: getattr(pool, name) for name in operations.SCALING_FIELDS},
        "scaled_nodes": scaled.get(pool.id, []),
        "created": iso(pool.created),
        "last_modified": iso(pool.last_modified),
    }


def pools_json(session: Session, pools: list[ResourcePool]) -> list[dict]:
    members = pool_node_ids(session, pools)
    all_ids = sorted({i for ids in members.values() for i in ids})
    nodes = {n.id: n for n in session.scalars(select(Node).where(Node.id.in_(all_ids)))} if all_ids else {}
    running = operations.running_counts(session, all_ids)
    scaled = autoscale.open_nodes_json(session, [p.id for p in pools])
    return [_pool_json(p, members[p.id], nodes, running, scaled) for p in pools]


def _pool_fields(body: dict, required: tuple[str, ...] = ()) -> dict:
    check_fields(body, operations.POOL_FIELDS, required=required)
    if not body:
        raise bad_request("No fields were specified. Fields: " + ", ".join(operations.POOL_FIELDS))
    fields, problems = {}, []
    for name, limit in (("name", 50), ("hostname_pattern", 250), ("attribute_name", 100), ("attribute_value", 250)):
        if name in body:
            try:
                fields[name] = body_str(body, name, limit) or None
            except ApiError as exc:
                problems.append(exc.detail)
    for name, parse in (
        ("min_nodes", lambda: body_int(body, "min_nodes", minimum=0)),
        ("max_nodes", lambda: body_int(body, "max_nodes", minimum=0)),
        ("node_cpus", lambda: body_number(body, "node_cpus", minimum=0)),
        ("node_mem", lambda: body_number(body, "node_mem", minimum=0)),
        ("node_disk", lambda: body_number(body, "node_disk", minimum=0)),
        ("provider", lambda: body_str(body, "provider", 50) or None),
    ):
        if name in body:
            try:
                value = parse()
                fields[name] = value if value is not None or name == "provider" else 0
            except ApiError as exc:
                problems.append(exc.detail)
    if fields.get("name") and not NAME_PATTERN.match(fields["name"]):
        problems.append(f"Field 'name' may only hold letters, digits, '_', '.' and '-': '{fields['name']}'")
    if problems:
        raise bad_request("; ".join(problems))
    return fields


def _save_pool(session: Session, fields: dict, pool: ResourcePool | None = None) -> tuple[ResourcePool, list[int]]:
    problems = operations.pool_problems(session, fields, pool)
    if problems:
        raise bad_request("; ".join(problems))
    return write(session, lambda: operations.save_pool(session, fields, pool))


_POOL_NOT_FOUND = {404: "No resource pool with this id"}
_POOL_NOT_ALLOWED = {400: "Not allowed in the pool's current state (the message says why)", **_POOL_NOT_FOUND}


@pools_ns.route("/")
class PoolList(Resource):
    @pools_ns.doc(params={"page": "Page number", "page_size": "1-1000"})
    def get(self):
        """Resource pools with their state, member nodes and running executions."""
        session = get_session()
        return paginate_list(
            pools_json(session, list(session.scalars(select(ResourcePool).order_by(ResourcePool.name))))
        )

    @pools_ns.doc(responses={201: "Created", 400: "Invalid fields (all listed)"})
    @pools_ns.expect(pool_create)
    def post(self):
        """Create a pool: name, and hostname_pattern (shell-style, e.g. "gpu-*.example.com") and/or
        attribute_name (+ attribute_value) matched against the agent's Mesos attributes. A node belongs
        to the pool when it matches every selector given."""
        session = get_session()
        pool, _ = _save_pool(session, _pool_fields(json_body(), required=("name",)))
        return pools_json(session, [pool])[0], 201, {"Location": f"{request.base_url.rstrip('/')}/{pool.id}/"}


@pools_ns.route("/<int:pool_id>/")
class PoolDetails(Resource):
    @pools_ns.doc(responses=_POOL_NOT_FOUND)
    def get(self, pool_id: int):
        session = get_session()
        return pools_json(session, [get_or_404(session, ResourcePool, pool_id, "Resource pool")])[0]

    @pools_ns.doc(responses={200: "Updated", 400: "Invalid fields (all listed)", **_POOL_NOT_FOUND})
    @pools_ns.expect(pool_edit)
    def patch(self, pool_id: int):
        """Rename or change the selectors. A draining pool vacates the nodes it gains."""
        session = get_session()
        pool = get_or_404(session, ResourcePool, pool_id, "Resource pool")
        pool, vacated = _save_pool(session, _pool_fields(json_body()), pool)
        return {**pools_json(session, [pool])[0], "vacated_job_exe_ids": vacated}

    @pools_ns.doc(responses={204: "Deleted", **_POOL_NOT_ALLOWED})
    def delete(self, pool_id: int):
        """Delete an ACTIVE pool (restore a frozen or draining pool first)."""
        session = get_session()
        pool = get_or_404(session, ResourcePool, pool_id, "Resource pool")
        write(session, lambda: operations.delete_pool(session, pool))
        return "", 204


def _pool_action(pool_id: int, action: Callable[[Session, ResourcePool], Any]) -> dict:
    check_fields(json_body(), [])
    session = get_session()
    pool = get_or_404(session, ResourcePool, pool_id, "Resource pool")
    vacated = write(session, lambda: action(session, pool))
    out = pools_json(session, [pool])[0]
    if isinstance(vacated, list):
        out["vacated_job_exe_ids"] = vacated
    return out


@pools_ns.route("/<int:pool_id>/freeze/")
class PoolFreeze(Resource):
    @pools_ns.doc(responses={200: "Frozen", **_POOL_NOT_ALLOWED})
    def post(self, pool_id: int):
        """Freeze (from ACTIVE): nothing new starts on the pool's nodes; running executions finish."""
        return _pool_action(pool_id, operations.freeze_pool)


@pools_ns.route("/<int:pool_id>/drain/")
class PoolDrain(Resource):
    @pools_ns.doc(responses={200: "Draining", **_POOL_NOT_ALLOWED})
    def post(self, pool_id: int):
        """Drain (from ACTIVE or FROZEN): nothing new starts on the pool's nodes and their running executions
        are vacated (killed and requeued without spending a try). `is_drained` turns true when none is left."""
        return _pool_action(pool_id, operations.drain_pool)


@pools_ns.route("/<int:pool_id>/restore/")
class PoolRestore(Resource):
    @pools_ns.doc(responses={200: "Active again", **_POOL_NOT_ALLOWED})
    def post(self, pool_id: int):
        """Restore (from FROZEN or DRAINING): back to normal. Nodes held one by one stay held."""
        return _pool_action(pool_id, operations.restore_pool)


# ---------------------------------------------------------------- /cluster/auto-mode/


@cluster_ns.route("/auto-mode/")
class AutoMode(Resource):
    def get(self):
        """Whether automatic cluster management is on (recorded on the scheduler row; survives restarts)."""
        return {"auto_mode": operations.scheduler_row(get_session()).auto_mode}

    @cluster_ns.doc(responses={200: "Updated", 400: "auto_mode missing or not a boolean, or unknown fields"})
    @cluster_ns.expect(auto_mode_edit)
    def patch(self):
        """Turn auto mode on or off: {"auto_mode": true|false}."""
        body = json_body()
        check_fields(body, ["auto_mode"], required=["auto_mode"])
        enabled = body_bool(body, "auto_mode", nullable=False)
        session = get_session()
        scheduler = write(session, lambda: operations.set_auto_mode(session, enabled))
        return {"auto_mode": scheduler.auto_mode}
