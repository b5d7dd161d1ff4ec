"""`scale job-types ...` and `scale recipe-types ...`: declarative apply, list, show, pause/resume."""

from __future__ import annotations

import json
from pathlib import Path

import click
import yaml

from scale_cli import client
from scale_cli.output import console, json_option, show


def load_document(path: str) -> dict:
    """A JSON or YAML file (JSON is YAML, so one parser reads both)."""
    try:
        doc = yaml.safe_load(Path(path).read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as exc:
        raise click.ClickException(f"cannot read {path}: {exc}") from None
    if not isinstance(doc, dict):
        raise click.ClickException(f"{path} must hold one JSON/YAML object")
    return doc


def find_type(path: str, name: str, version: str | None) -> dict:
    """A job or recipe type by name (and version; without one, the last version listed)."""
    matches = [t for t in client.get_all(path) if t["name"] == name and version in (None, t["version"])]
    if not matches:
        raise click.ClickException(
            f"no {path.strip('/').rstrip('s').replace('-', ' ')} {name}" + (f" {version}" if version else "")
        )
    return matches[-1]


def split_ref(ref: str) -> tuple[str, str | None]:
    name, _, version = ref.partition(":")
    return name, version or None


def type_group(name: str, path: str, columns: list[str]) -> click.Group:
    @click.group(name=name, help=f"Manage {name.replace('-', ' ')}.")
    def group():
        pass

    @group.command(help="Create the type in FILE, or edit it as a new revision when its name+version exists.")
    @click.option("-f", "--file", "file_path", required=True, type=click.Path(exists=True, dir_okay=False))
    @json_option
    def apply(file_path, as_json):
        doc = load_document(file_path)
        if "name" not in doc or "version" not in doc:
            raise click.ClickException(f"{file_path}: 'name' and 'version' are required")
        if isinstance(doc["version"], (int, float)):  # YAML reads `version: 1.0` as a number
            doc["version"] = str(doc["version"])
        existing = [t for t in client.get_all(path) if t["name"] == doc["name"] and t["version"] == str(doc["version"])]
        if existing:
            edit = {k: v for k, v in doc.items() if k not in ("name", "version")}
            answer = client.patch(f"{path}{existing[0]['id']}/", edit)
            verb = "edited"
        else:
            answer = client.post(path, doc)
            verb = "created"
        if as_json:
            click.echo(json.dumps(answer, indent=2))
        else:
            console.print(
                f"{verb} {doc['name']} {doc['version']} (id {answer['id']}, revision {answer.get('revision_num')})"
            )

    @group.command(name="list", help="List them.")
    @json_option
    def list_(as_json):
        show(client.get_all(path), columns, as_json)

    @group.command(name="show", help="One type by NAME[:VERSION] or id.")
    @click.argument("ref")
    @json_option
    def show_(ref, as_json):
        type_id = ref if ref.isdigit() else find_type(path, *split_ref(ref))["id"]
        show(client.get(f"{path}{type_id}/"), None, as_json)

    def pausing(paused: bool):
        @click.argument("ref")
        def command(ref):
            found = find_type(path, *split_ref(ref)) if not ref.isdigit() else {"id": ref}
            answer = client.patch(f"{path}{found['id']}/", {"is_paused": paused})
            console.print(f"{answer['name']} {answer['version']}: {'paused' if paused else 'resumed'}")

        return command

    if path == "/job-types/":
        group.command(name="pause", help="Pause a job type NAME[:VERSION]: its queued jobs wait.")(pausing(True))
        group.command(name="resume", help="Resume a paused job type.")(pausing(False))
    return group


job_types = type_group("job-types", "/job-types/", ["id", "name", "version", "revision_num", "is_paused", "title"])
recipe_types = type_group("recipe-types", "/recipe-types/", ["id", "name", "version", "revision_num", "title"])
