"""`scale status`, `scale nodes ...`, `scale pools ...`, `scale scheduler pause|resume`."""

from __future__ import annotations

import click

from scale_cli import client
from scale_cli.output import console, json_option, print_json, show


@click.command(help="Scheduler, nodes, queue and warnings at a glance.")
@json_option
def status(as_json):
    queue = client.get("/queue/status/")
    try:
        snapshot = client.get("/v6/status/")
    except click.ClickException as exc:  # 503 while the scheduler is offline: say so, still show the queue
        if as_json:
            print_json({"status": None, "error": exc.message, "queue": queue})
        else:
            console.print(f"[red]scheduler offline[/]: {exc.message}")
            _queue_table(queue)
        raise SystemExit(1) from None
    if as_json:
        print_json({"status": snapshot, "queue": queue})
        return
    scheduler = snapshot.get("scheduler") or {}
    state = scheduler.get("state") or {}
    console.print(
        f"scheduler: {state.get('name', 'UNKNOWN')} on {scheduler.get('hostname') or '?'}"
        f" (master online: {(scheduler.get('mesos') or {}).get('master_is_online')})"
    )
    for warning in scheduler.get("warnings") or []:
        console.print(
            f"[yellow]warning[/]: {warning.get('title') or warning.get('name')}: {warning.get('description', '')}"
        )
    for name, dependency in (snapshot.get("dependencies") or {}).items():
        if not dependency.get("OK", True):
            console.print(f"[red]{name}[/]: {(dependency.get('detail') or {}).get('msg', 'not OK')}")
    nodes = snapshot.get("nodes") or []
    show(
        [
            {
                "id": n["id"],
                "hostname": n["hostname"],
                "state": n["state"]["name"],
                "cpus": _usage(n, "cpus"),
                "mem": _usage(n, "mem"),
                "running": n["job_executions"]["running"]["total"],
            }
            for n in nodes
        ],
        ["id", "hostname", "state", "cpus", "mem", "running"],
        False,
        title="nodes",
    )
    _queue_table(queue)


def _usage(node: dict, resource: str) -> str:
    """`running/total` of one resource of a node."""
    values = (node.get("resources") or {}).get(resource) or {}
    return f"{values.get('running', 0):g}/{values.get('total', 0):g}"


def _queue_table(queue) -> None:
    rows = queue.get("queue_status", [])
    if not rows:
        console.print("queue: empty")
        return
    show(
        rows, ["job_type_name", "job_type_version", "count", "highest_priority", "longest_queued"], False, title="queue"
    )


def _node_id(ref: str) -> int:
    if ref.isdigit():
        return int(ref)
    for node in client.get_all("/nodes/"):
        if node["hostname"] == ref:
            return node["id"]
    raise click.ClickException(f"no node with hostname {ref!r}")


@click.group(help="Nodes: list, hold, unhold, vacate.")
def nodes():
    pass


@nodes.command(name="list")
@json_option
def list_nodes(as_json):
    show(client.get_all("/nodes/"), ["id", "hostname", "is_active", "is_paused", "pause_reason"], as_json)


@nodes.command(help="Nothing new starts on NODE (id or hostname); running executions finish.")
@click.argument("node")
@click.option("--reason", help="Why it is held.")
def hold(node, reason):
    answer = client.post(f"/nodes/{_node_id(node)}/hold/", {"pause_reason": reason} if reason else {})
    console.print(f"node {answer['hostname']}: held")


@nodes.command(help="NODE takes new executions again.")
@click.argument("node")
def unhold(node):
    answer = client.post(f"/nodes/{_node_id(node)}/unhold/")
    console.print(f"node {answer['hostname']}: unheld")


@nodes.command(help="Kill NODE's running executions and requeue their jobs (hold it first).")
@click.argument("node")
def vacate(node):
    answer = client.post(f"/nodes/{_node_id(node)}/vacate/")
    console.print(f"node {answer['hostname']}: vacated executions {answer.get('vacated_job_exe_ids', [])}")


def _pool_id(ref: str) -> int:
    if ref.isdigit():
        return int(ref)
    for pool in client.get_all("/resource-pools/"):
        if pool["name"] == ref:
            return pool["id"]
    raise click.ClickException(f"no resource pool named {ref!r}")


@click.group(help="Resource pools: list, show, freeze, drain, restore.")
def pools():
    pass


@pools.command(name="list")
@json_option
def list_pools(as_json):
    show(client.get_all("/resource-pools/"), ["id", "name", "state", "node_ids"], as_json)


@pools.command(name="show")
@click.argument("pool")
@json_option
def show_pool(pool, as_json):
    show(client.get(f"/resource-pools/{_pool_id(pool)}/"), None, as_json)


def _pool_action(action: str, help_text: str):
    @pools.command(name=action, help=help_text)
    @click.argument("pool")
    def command(pool):
        answer = client.post(f"/resource-pools/{_pool_id(pool)}/{action}/")
        console.print(f"pool {answer.get('name', pool)}: {answer.get('state', action)}")

    return command


@pools.command(name="launch", help="Launch nodes into POOL through its node provider (up to its max_nodes).")
@click.argument("pool")
@click.option("--num", type=click.IntRange(min=1), default=1, show_default=True, help="How many nodes.")
def launch(pool, num):
    answer = client.post(f"/resource-pools/{_pool_id(pool)}/launch/", {"num": num})
    console.print(f"pool {answer.get('name', pool)}: launched {', '.join(answer.get('launched', []))}")


_pool_action("freeze", "No new executions start in POOL.")
_pool_action("drain", "Freeze POOL and requeue its running executions.")
_pool_action("restore", "POOL runs work again.")


@click.group(help="Pause or resume the whole scheduler.")
def scheduler():
    pass


@scheduler.command(name="show", help="The scheduler's settings.")
@json_option
def show_scheduler(as_json):
    show(client.get("/scheduler/"), None, as_json)


@scheduler.command(help="No new executions start anywhere.")
def pause():
    client.patch("/scheduler/", {"is_paused": True})
    console.print("scheduler: paused")


@scheduler.command(help="The scheduler starts executions again.")
def resume():
    client.patch("/scheduler/", {"is_paused": False})
    console.print("scheduler: resumed")
