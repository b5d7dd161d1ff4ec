"""`scale config export` and `scale config import FILE` (validated before anything is kept)."""

from __future__ import annotations

import click

from scale_cli import client
from scale_cli.output import console, print_json
from scale_cli.types_cmd import load_document


@click.group(help="Export or import job types, recipe types and errors.")
def config():
    pass


@config.command(name="export", help="Print the configuration as JSON (redirect it to a file).")
@click.option("--include", multiple=True, help="errors, job_types, recipe_types")
def export(include):
    print_json(client.get("/configuration/", include=include))


@config.command(name="import", help="Validate FILE (JSON or YAML), then import it: all of it or nothing.")
@click.argument("path", type=click.Path(exists=True, dir_okay=False))
@click.option("--dry-run", is_flag=True, help="Only validate.")
def import_(path, dry_run):
    doc = load_document(path)
    if set(doc) == {"import"}:
        doc = doc["import"]
    checked = client.post("/configuration/validation/", {"import": doc})
    for warning in checked.get("warnings", []):
        console.print(f"[yellow]warning[/]: {warning.get('details') or warning}")
    if dry_run:
        console.print(f"{path}: valid")
        return
    client.post("/configuration/", {"import": doc})
    console.print(f"{path}: imported")
