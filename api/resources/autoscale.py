"""Autoscaling routes (an extension in the style of Dynamic Cluster's `PUT /resource/<res>?num=` and
`GET /server/config`): launch nodes into a pool, and read the cluster's autoscaling configuration."""

from __future__ import annotations

from flask_restx import Resource, fields

from api.common import bad_request, body_int, check_fields, get_or_404, json_body, write
from api.resources.nodes import cluster_ns, pools_json, pools_ns
from api.session import get_session
from app.autoscale.providers import PROVIDERS
from app.db import utcnow
from app.models import ResourcePool, Scheduler
from app.services import autoscale
from app.settings import settings
from sqlalchemy import select

NAMESPACES: list = []  # the routes below live in the nodes module's namespaces


launch_body = pools_ns.model(
    "ResourcePoolLaunch", {"num": fields.Integer(min=1, description="Nodes to launch (default 1)")}
)


@pools_ns.route("/<int:pool_id>/launch/")
class PoolLaunch(Resource):
    @pools_ns.doc(
        responses={
            200: "Launched (the pool, with the hostnames asked for)",
            400: "No provider, not ACTIVE, num not a positive integer, or more than max_nodes allows",
            404: "No resource pool with this id",
        }
    )
    @pools_ns.expect(launch_body)
    def post(self, pool_id: int):
        """Launch `num` nodes (default 1) into the pool through its provider, whether or not auto mode is on."""
        body = json_body()
        check_fields(body, ["num"])
        num = body_int(body, "num", minimum=1) or 1
        session = get_session()
        pool = get_or_404(session, ResourcePool, pool_id, "Resource pool")
        problems = autoscale.launch_problems(session, pool, num)
        if problems:
            raise bad_request("; ".join(problems))
        rows = write(
            session, lambda: autoscale.launch_nodes(session, pool, num, f"{num} asked for by an operator", utcnow())
        )
        ids, hostnames = [r.id for r in rows], [r.hostname for r in rows]
        autoscale.perform_launches(ids)
        session.expire_all()
        return {**pools_json(session, [pool])[0], "launched": hostnames}


@cluster_ns.route("/config/")
class ClusterConfig(Resource):
    def get(self):
        """Autoscaling configuration: auto mode, the policy's settings, the node providers and each autoscaled pool."""
        session = get_session()
        scheduler = session.get(Scheduler, 1)
        pools = [
            p for p in session.scalars(select(ResourcePool).order_by(ResourcePool.name)) if autoscale.is_autoscaled(p)
        ]
        launched = autoscale.open_nodes_json(session, [p.id for p in pools])
        return {
            "auto_mode": bool(scheduler and scheduler.auto_mode),
            "autoscale": {
                "interval": settings.AUTOSCALE_INTERVAL,
                "queue_wait": settings.AUTOSCALE_QUEUE_WAIT,
                "idle_time": settings.AUTOSCALE_IDLE_TIME,
                "launch_timeout": settings.AUTOSCALE_LAUNCH_TIMEOUT,
            },
            "providers": {name: cls().config() for name, cls in sorted(PROVIDERS.items())},
            "resource_pools": [
                {
                    "id": p.id,
                    "name": p.name,
                    "provider": p.provider,
                    "min_nodes": p.min_nodes,
                    "max_nodes": p.max_nodes,
                    "current_nodes": len(launched[p.id]),
                    "node": {"cpus": p.node_cpus, "mem": p.node_mem, "disk": p.node_disk},
                    "state": p.state,
                }
                for p in pools
            ],
        }
