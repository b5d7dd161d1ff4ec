"""`scale jobs list|show`, `scale logs`, `scale cancel`, `scale requeue`."""

from __future__ import annotations

import sys
import time

import click

from scale_cli import client
from scale_cli.output import console, json_option, print_json, show

JOB_COLUMNS = ["id", "job_type.name", "job_type.version", "status", "num_exes", "error.name", "last_modified"]


@click.group(help="List and show jobs.")
def jobs():
    pass


@jobs.command(name="list", help="Jobs, newest first, with the API's filters.")
@click.option("--status", multiple=True, help="PENDING, BLOCKED, QUEUED, RUNNING, FAILED, COMPLETED, CANCELED")
@click.option("--job-type-id", multiple=True, type=int)
@click.option("--job-type-name", multiple=True)
@click.option("--job-type-category", multiple=True)
@click.option("--error-category", multiple=True, help="SYSTEM, ALGORITHM, DATA")
@click.option("--started", help="ISO-8601: last modified at or after")
@click.option("--ended", help="ISO-8601: last modified at or before")
@click.option("--limit", default=100, show_default=True, help="At most this many jobs.")
@json_option
def list_jobs(status, job_type_id, job_type_name, job_type_category, error_category, started, ended, limit, as_json):
    answer = client.get(
        "/jobs/",
        status=status,
        job_type_id=job_type_id,
        job_type_name=job_type_name,
        job_type_category=job_type_category,
        error_category=error_category,
        started=started,
        ended=ended,
        order="-id",
        page_size=limit,
    )
    show(answer["results"], JOB_COLUMNS, as_json)


@jobs.command(name="show", help="One job with its executions.")
@click.argument("job_id", type=int)
@json_option
def show_job(job_id, as_json):
    job = client.get(f"/jobs/{job_id}/")
    show(job, None, as_json, title=f"job {job_id}")
    waiting = job.get("scheduling")
    if not as_json and waiting:  # why a queued job is not running, as the scheduler last saw it
        console.print(f"waiting: {waiting['detail']} ({waiting['reason']}, since {waiting['since']})")
    if not as_json and job.get("job_exes"):
        show(job["job_exes"], ["id", "status", "node.hostname", "started", "ended"], False, "executions")


def _latest_execution(job_id: int) -> int:
    """The job's latest execution, waiting while the job has none yet (still queued)."""
    while True:
        job = client.get(f"/jobs/{job_id}/")
        if job["job_exes"]:
            return job["job_exes"][0]["id"]
        if job["status"] in ("COMPLETED", "FAILED", "CANCELED"):
            raise click.ClickException(f"job {job_id} ended ({job['status']}) without an execution")
        time.sleep(0.5)


@click.command(
    help="The output of a job's latest execution (or, with --exe, of one execution); -f follows it until it ends."
)
@click.argument("ident", metavar="EXE_OR_JOB_ID", type=int)
@click.option("--exe", "is_exe", is_flag=True, help="EXE_OR_JOB_ID is an execution id, not a job id.")
@click.option("-f", "--follow", is_flag=True, help="Keep printing new output until the execution finishes.")
@json_option
def logs(ident, is_exe, follow, as_json):
    exe_id = ident if is_exe else _latest_execution(ident)
    if as_json:
        print_json(client.get(f"/job-executions/{exe_id}/logs/"))
        return
    printed = {"stdout": 0, "stderr": 0}
    while True:
        answer = client.get(f"/job-executions/{exe_id}/logs/")
        for stream, out in (("stdout", sys.stdout), ("stderr", sys.stderr)):
            text = answer.get(stream) or ""
            if len(text) > printed[stream]:
                out.write(text[printed[stream] :])
                out.flush()
                printed[stream] = len(text)
        if not follow or answer.get("is_finished"):
            return
        time.sleep(0.5)


@click.command(help="Cancel jobs by id.")
@click.argument("job_ids", nargs=-1, required=True, type=int)
def cancel(job_ids):
    _each(job_ids, lambda i: client.patch(f"/jobs/{i}/", {"status": "CANCELED"}))


@click.command(help="Requeue FAILED or CANCELED jobs by id.")
@click.argument("job_ids", nargs=-1, required=True, type=int)
def requeue(job_ids):
    _each(job_ids, lambda i: client.post("/queue/requeue-job/", {"job_id": i}))


def _each(job_ids, call) -> None:
    """Every id is tried; the exit code is 1 when any failed."""
    failed = False
    for job_id in job_ids:
        try:
            job = call(job_id)
            console.print(f"job {job_id}: {job['status']}")
        except click.ClickException as exc:
            click.echo(f"Error: job {job_id}: {exc.message}", err=True)
            failed = True
    if failed:
        raise SystemExit(1)
