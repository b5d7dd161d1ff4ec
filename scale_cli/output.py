"""Printing: --json for scripts, rich tables for people."""

from __future__ import annotations

import json

import click
from rich.console import Console
from rich.table import Table

console = Console()

json_option = click.option("--json", "as_json", is_flag=True, help="Print the API's JSON answer.")


def print_json(data) -> None:
    click.echo(json.dumps(data, indent=2, sort_keys=True))


def cell(value) -> str:
    if isinstance(value, dict):
        return str(value.get("name") or value.get("title") or value.get("id") or "")
    return "" if value is None else str(value)


def show(data, columns: list[str] | None, as_json: bool, title: str | None = None) -> None:
    """Rows (a list) as a table with `columns`, or one object as name/value lines."""
    if as_json:
        print_json(data)
        return
    if isinstance(data, list):
        table = Table(title=title)
        for c in columns:
            table.add_column(_header(c))
        for row in data:
            table.add_row(*(cell(_dig(row, c)) for c in columns))
        console.print(table)
        return
    table = Table(show_header=False, title=title)
    for key, value in data.items():
        if not isinstance(value, (list, dict)) or key in ("job_type", "recipe_type"):
            table.add_row(key, cell(value))
    console.print(table)


def _header(dotted: str) -> str:
    """job_type.name -> job_type, job_type.version -> version, node.hostname -> hostname."""
    first, _, last = dotted.rpartition(".")
    return first if last in ("name", "id") and first else last


def _dig(row: dict, dotted: str):
    for part in dotted.split("."):
        row = row.get(part) if isinstance(row, dict) else None
    return row
