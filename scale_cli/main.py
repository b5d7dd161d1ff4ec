"""The `scale` command: every group lives in its own module."""

from __future__ import annotations

import click

from scale_cli.auth_cmd import audit, tokens
from scale_cli.cluster_cmd import nodes, pools, scheduler, status
from scale_cli.config_cmd import config
from scale_cli.files_cmd import ingests, products, sources
from scale_cli.jobs_cmd import cancel, jobs, logs, requeue
from scale_cli.queue_cmd import queue
from scale_cli.types_cmd import job_types, recipe_types


@click.group(
    help="A client for the Scale REST API at $SCALE_API_URL (default http://127.0.0.1:8000); "
    "$SCALE_API_TOKEN is sent as a bearer token when set."
)
def cli():
    pass


for command in (
    status,
    job_types,
    recipe_types,
    queue,
    jobs,
    logs,
    cancel,
    requeue,
    nodes,
    pools,
    scheduler,
    config,
    ingests,
    sources,
    products,
    tokens,
    audit,
):
    cli.add_command(command)


def main() -> None:
    cli(prog_name="scale")
