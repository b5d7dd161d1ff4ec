"""`scale ingests list`, `scale sources list`, `scale products list`: the files the system knows."""

from __future__ import annotations

import click

from scale_cli import client
from scale_cli.output import json_option, show


def _file_list(name: str, path: str, columns: list[str]) -> click.Group:
    @click.group(name=name, help=f"{name.title()}, newest first.")
    def group():
        pass

    @group.command(name="list")
    @click.option("--file-name", multiple=True, help="Only files with this name.")
    @click.option("--limit", default=100, show_default=True)
    @json_option
    def list_(file_name, limit, as_json):
        answer = client.get(path, file_name=file_name, order="-last_modified", page_size=limit)
        show(answer["results"], columns, as_json)

    return group


ingests = _file_list(
    "ingests", "/ingests/", ["id", "file_name", "status", "strike.name", "source_file.id", "last_modified"]
)
sources = _file_list(
    "sources", "/sources/", ["id", "file_name", "media_type", "file_size", "workspace.name", "last_modified"]
)
products = _file_list(
    "products", "/products/", ["id", "file_name", "media_type", "job_type.name", "workspace.name", "last_modified"]
)
