"""`scale queue job|recipe`: queue work, optionally wait for its end with a progress display.

Exit codes with --wait: 0 COMPLETED, 3 FAILED, 4 CANCELED (1 for any API or connection error)."""

from __future__ import annotations

import time

import click
from rich.live import Live
from rich.table import Table

from scale_cli import client
from scale_cli.output import console, print_json
from scale_cli.types_cmd import find_type, split_ref

EXIT_CODES = {"COMPLETED": 0, "FAILED": 3, "CANCELED": 4}
ACTIVE = ("PENDING", "BLOCKED", "QUEUED", "RUNNING")
POLL_SECONDS = 0.5
BATCH_SIZE = 1000  # the most POST /queue/new-jobs/ takes at once


def _file_id(value: str) -> int:
    """A file id, or the name of a source file already ingested (the newest one of that name)."""
    if value.isdigit():
        return int(value)
    sources = client.get("/sources/", file_name=value.rsplit("/", 1)[-1], order="-last_modified")["results"]
    if not sources:
        raise click.ClickException(f"no ingested source file named {value!r}: give a file id or ingest it first")
    return sources[0]["id"]


def _workspace_id(ref: str) -> int:
    if ref.isdigit():
        return int(ref)
    for workspace in client.get_all("/workspaces/"):
        if workspace["name"] == ref:
            return workspace["id"]
    raise click.ClickException(f"no workspace named {ref!r}")


def _data(inputs: tuple[str, ...], files: tuple[str, ...], workspace: str | None) -> dict:
    values = []
    for pair in inputs:
        name, sep, value = pair.partition("=")
        if not sep:
            raise click.BadParameter(f"{pair!r} is not NAME=VALUE", param_hint="--input")
        values.append({"name": name, "value": value})
    for pair in files:
        name, sep, value = pair.partition("=")
        if not sep:
            raise click.BadParameter(f"{pair!r} is not NAME=FILE_ID|NAME", param_hint="--file")
        ids = [_file_id(v) for v in value.split(",")]
        values.append({"name": name, "file_ids": ids} if len(ids) > 1 else {"name": name, "file_id": ids[0]})
    data = {"version": "1.0", "input_data": values}
    if workspace:
        data["workspace_id"] = _workspace_id(workspace)
    return data


def _job_table(rows: list[tuple[str, dict]], title: str, started: float) -> Table:
    done = sum(job["status"] == "COMPLETED" for _, job in rows)
    table = Table(title=f"{title}: {done}/{len(rows)} completed, {time.monotonic() - started:.0f}s")
    for column in ("job", "id", "type", "status", "error"):
        table.add_column(column)
    for name, job in rows:
        error = (job.get("error") or {}).get("name", "")
        table.add_row(
            name, str(job["id"]), f"{job['job_type']['name']} {job['job_type']['version']}", job["status"], error or ""
        )
    return table


def _wait(fetch, title: str, ended) -> str:
    """Redraw the jobs' table until `ended(rows)` gives a final status; returns it."""
    started = time.monotonic()
    with Live(console=console, refresh_per_second=4, transient=False) as live:
        while True:
            rows = fetch()
            live.update(_job_table(rows, title, started))
            final = ended(rows)
            if final:
                break
            time.sleep(POLL_SECONDS)
    if not console.is_terminal:
        console.print()  # Live leaves the last line open when the output is not a terminal
    return final


def recipe_end(rows: list[tuple[str, dict]], completed: bool) -> str | None:
    """COMPLETED, or FAILED/CANCELED once nothing can still run; None while it goes on."""
    statuses = [job["status"] for _, job in rows]
    if completed or (statuses and all(s == "COMPLETED" for s in statuses)):
        return "COMPLETED"
    if any(s in ("QUEUED", "RUNNING") for s in statuses):
        return None
    if "FAILED" in statuses:
        return "FAILED"
    if "CANCELED" in statuses:
        return "CANCELED"
    return None


@click.group(help="Queue a job or a recipe.")
def queue():
    pass


_inputs = click.option("--input", "inputs", multiple=True, metavar="NAME=VALUE", help="A property input.")
_files = click.option(
    "--file",
    "files",
    multiple=True,
    metavar="NAME=FILE_ID|FILE_NAME",
    help="A file input: a file id, or the name of an ingested source file (comma-separated for several).",
)
_wait_option = click.option(
    "--wait", is_flag=True, help="Follow it to its end; exit 0 COMPLETED, 3 FAILED, 4 CANCELED."
)
_workspace = click.option("--workspace", help="Workspace (name or id) for the output files.")
_json = click.option("--json", "as_json", is_flag=True, help="Print the final JSON instead of tables.")


@queue.command(name="job", help="Queue a job of TYPE[:VERSION].")
@click.argument("type_ref")
@_inputs
@_files
@_workspace
@click.option(
    "--count",
    type=click.IntRange(min=1),
    default=1,
    show_default=True,
    help="Queue this many identical jobs (sent through POST /queue/new-jobs/, 1000 per request).",
)
@_wait_option
@_json
def queue_job(type_ref, inputs, files, workspace, count, wait, as_json):
    job_type = find_type("/job-types/", *split_ref(type_ref))
    item = {"job_type_id": job_type["id"], "job_data": _data(inputs, files, workspace)}
    if count > 1:
        if wait:
            raise click.UsageError("--wait follows one job; queue several without it and watch them with `scale jobs`")
        _queue_many(item, count, as_json)
        return
    job = client.post("/queue/new-job/", item)
    if not wait:
        print_json(job) if as_json else console.print(f"queued job {job['id']} ({job['status']})")
        return
    if as_json:
        while job["status"] not in EXIT_CODES:
            time.sleep(POLL_SECONDS)
            job = client.get(f"/jobs/{job['id']}/")
        print_json(job)
        final = job["status"]
    else:
        final = _wait(
            lambda: [(type_ref, client.get(f"/jobs/{job['id']}/"))],
            f"job {job['id']}",
            lambda rows: rows[0][1]["status"] if rows[0][1]["status"] in EXIT_CODES else None,
        )
        console.print(f"job {job['id']}: {final}")
    raise SystemExit(EXIT_CODES[final])


def _queue_many(item: dict, count: int, as_json: bool) -> None:
    ids: list[int] = []
    for start in range(0, count, BATCH_SIZE):
        answer = client.post("/queue/new-jobs/", {"jobs": [item] * min(BATCH_SIZE, count - start)})
        ids.extend(job["id"] for job in answer["jobs"])
    if as_json:
        print_json({"count": len(ids), "ids": ids})
    else:
        console.print(f"queued {len(ids)} jobs ({ids[0]}..{ids[-1]})")


@queue.command(name="recipe", help="Queue a recipe of TYPE[:VERSION].")
@click.argument("type_ref")
@_inputs
@_files
@_workspace
@_wait_option
@_json
def queue_recipe(type_ref, inputs, files, workspace, wait, as_json):
    recipe_type = find_type("/recipe-types/", *split_ref(type_ref))
    recipe = client.post(
        "/queue/new-recipe/", {"recipe_type_id": recipe_type["id"], "recipe_data": _data(inputs, files, workspace)}
    )
    if not wait:
        print_json(recipe) if as_json else console.print(f"queued recipe {recipe['id']}")
        return
    state = {}

    def fetch():
        state["recipe"] = client.get(f"/recipes/{recipe['id']}/")
        return [(j["job_name"], j["job"]) for j in state["recipe"]["jobs"]]

    def ended(rows):
        return recipe_end(rows, bool(state["recipe"].get("completed")))

    if as_json:
        while not ended(fetch()):
            time.sleep(POLL_SECONDS)
        print_json(state["recipe"])
        final = ended(fetch())
    else:
        final = _wait(fetch, f"recipe {recipe['id']} ({type_ref})", ended)
        console.print(f"recipe {recipe['id']}: {final}")
    raise SystemExit(EXIT_CODES[final])
