"""Benchmark of the job list endpoints on a large SQLite database.

    .venv/bin/python bench/api_lists.py [--jobs 1000000] [--dir DIR [--reuse]] [--keep]

Fills its own database (migrated like production) with N jobs over 20 job types, one execution
each, using batched Core inserts; then times requests through the Flask test client (median of 5
after one warm-up) against the 0.3 s target.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import statistics
import sys
import tempfile
import time
from datetime import datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

TARGET = 0.3
BATCH = 20_000
JOB_TYPES = 20
NODES = 10
# Rough shape of a long-lived system: most jobs finished.
STATUS_WEIGHTS = {"COMPLETED": 70, "FAILED": 10, "CANCELED": 5, "QUEUED": 5, "RUNNING": 5, "PENDING": 5}
EXE_STATUS = {
    "COMPLETED": "COMPLETED",
    "FAILED": "FAILED",
    "CANCELED": "CANCELED",
    "QUEUED": "FAILED",
    "RUNNING": "RUNNING",
    "PENDING": "FAILED",
}


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--jobs", type=int, default=1_000_000, help="number of jobs (default 1,000,000)")
    parser.add_argument("--dir", type=Path, default=None, help="directory for the database (default: a temp dir)")
    parser.add_argument("--keep", action="store_true", help="keep the temporary database (one in --dir is always kept)")
    parser.add_argument("--reuse", action="store_true", help="reuse a database already filled in --dir")
    parser.add_argument("--repeat", type=int, default=5, help="timed requests per case (median reported)")
    return parser.parse_args()


def configure(directory: Path) -> Path:
    """Point every setting at the bench directory before any project module reads them."""
    directory.mkdir(parents=True, exist_ok=True)
    db_path = directory / "bench.db"
    os.environ["SCALE_VAR_DIR"] = str(directory)
    os.environ["DATABASE_URL"] = f"sqlite:///{db_path}"
    from app.settings import settings

    settings.reload()
    return db_path


def fill(n_jobs: int) -> dict:
    from sqlalchemy import column, insert, select, table, text

    from app.db import get_engine, session_scope, utcnow
    from app.migrate import migrate
    from app.models import Error, Job, JobExecution, JobType, JobTypeRevision, Node

    migrate()
    rng = random.Random(7)
    with session_scope() as session:
        for i in range(JOB_TYPES):
            jt = JobType(
                name=f"bench-type-{i:02d}",
                version="1.0",
                title=f"Bench type {i}",
                category=("imagery", "text", "signals", "system")[i % 4],
                priority=100 + i,
                interface={
                    "version": "1.0",
                    "command": "true",
                    "command_arguments": "",
                    "input_data": [],
                    "output_data": [],
                },
            )
            session.add(jt)
            session.flush()
            session.add(JobTypeRevision(job_type_id=jt.id, revision_num=1, interface=jt.interface))
        for i in range(NODES):
            session.add(Node(hostname=f"bench-node-{i}.local", slave_id=f"bench-agent-{i}"))
    with session_scope() as session:
        type_ids = list(session.scalars(select(JobType.id).order_by(JobType.id)))
        rev_ids = dict(session.execute(select(JobTypeRevision.job_type_id, JobTypeRevision.id)).all())
        error_ids = list(session.scalars(select(Error.id)))
        node_ids = list(session.scalars(select(Node.id)))

    statuses = list(STATUS_WEIGHTS)
    weights = list(STATUS_WEIGHTS.values())
    start = utcnow().replace(tzinfo=None, microsecond=1) - timedelta(seconds=n_jobs * 2)
    # Untyped table clauses: values go to the driver as given (timestamps pre-formatted the way the
    # UTCDateTime column stores them, JSON pre-encoded), which keeps 1M rows to a minute or two.
    job_table = table("job", *(column(c.name) for c in Job.__table__.c))
    exe_table = table("job_exe", *(column(c.name) for c in JobExecution.__table__.c))
    empty_data = json.dumps({"version": "1.0", "input_data": [], "output_data": []})

    def stamp(moment: datetime) -> str:
        return moment.isoformat(" ", "microseconds")

    engine = get_engine()
    began = time.perf_counter()
    with engine.begin() as conn:
        conn.execute(text("PRAGMA synchronous=OFF"))
        for first in range(1, n_jobs + 1, BATCH):
            jobs, exes = [], []
            for job_id in range(first, min(first + BATCH, n_jobs + 1)):
                status = rng.choices(statuses, weights)[0]
                type_id = type_ids[job_id % JOB_TYPES]
                created_at = start + timedelta(seconds=job_id * 2)
                created, started = stamp(created_at), stamp(created_at + timedelta(seconds=5))
                modified = stamp(created_at + timedelta(seconds=rng.randint(0, 3600)))
                ended = modified if status in ("COMPLETED", "FAILED", "CANCELED") else None
                jobs.append(
                    {
                        "id": job_id,
                        "job_type_id": type_id,
                        "job_type_rev_id": rev_ids[type_id],
                        "status": status,
                        "priority": 100,
                        "num_exes": 1,
                        "timeout": 1800,
                        "max_tries": 3,
                        "cpus_required": 1.0,
                        "mem_required": 64.0,
                        "disk_in_required": 0.0,
                        "disk_out_required": 64.0,
                        "error_id": rng.choice(error_ids) if status == "FAILED" else None,
                        "data": empty_data,
                        "results": None,
                        "event_id": None,
                        "created": created,
                        "queued": created,
                        "started": started,
                        "ended": ended,
                        "last_status_change": modified,
                        "last_modified": modified,
                    }
                )
                exes.append(
                    {
                        "id": job_id,
                        "job_id": job_id,
                        "exe_num": 1,
                        "status": EXE_STATUS[status],
                        "node_id": rng.choice(node_ids),
                        "task_id": f"scale-exe-{job_id}",
                        "command_arguments": "",
                        "timeout": 1800,
                        "environment": "{}",
                        "cpus_scheduled": 1.0,
                        "mem_scheduled": 64.0,
                        "disk_in_scheduled": 0.0,
                        "disk_out_scheduled": 64.0,
                        "disk_total_scheduled": 64.0,
                        "requires_cleanup": False,
                        "created": created,
                        "queued": created,
                        "started": started,
                        "job_started": started,
                        "ended": ended,
                        "last_modified": modified,
                    }
                )
            conn.execute(insert(job_table), jobs)
            conn.execute(insert(exe_table), exes)
        conn.execute(text("ANALYZE"))
    return time.perf_counter() - began


def timed(client, url: str, repeat: int) -> tuple[float, int, int]:
    """(median seconds, status code, results on the page) after one warm-up request."""
    response = client.get(url)
    times = []
    for _ in range(repeat):
        began = time.perf_counter()
        response = client.get(url)
        times.append(time.perf_counter() - began)
    body = response.get_json() or {}
    results = body.get("results")
    return statistics.median(times), response.status_code, len(results) if isinstance(results, list) else 1


def main() -> int:
    args = parse_args()
    directory = args.dir or Path(tempfile.mkdtemp(prefix="scale-bench-"))
    try:
        return run(args, configure(directory.resolve()))
    finally:
        if not args.keep and args.dir is None:
            shutil.rmtree(directory, ignore_errors=True)


def run(args: argparse.Namespace, db_path: Path) -> int:
    if args.reuse and not db_path.exists():
        print(f"--reuse: no database at {db_path}", file=sys.stderr)
        return 2
    if not args.reuse:
        if db_path.exists():
            for suffix in ("", "-wal", "-shm"):
                Path(f"{db_path}{suffix}").unlink(missing_ok=True)
        seconds = fill(args.jobs)
        print(
            f"filled {args.jobs:,} jobs + {args.jobs:,} executions over {JOB_TYPES} job types "
            f"in {seconds:.1f} s ({db_path})"
        )

    from sqlalchemy import func, select

    from api import create_app
    from api.session import get_session
    from app.models import Job, JobType

    app = create_app()
    with app.app_context():
        session = get_session()
        n_jobs = session.scalar(select(func.count()).select_from(Job))
        type_id = session.scalar(select(JobType.id).order_by(JobType.id).offset(3).limit(1))
        middle = session.scalar(select(Job.id).order_by(Job.id).offset(n_jobs // 2).limit(1))
    deep = max(1, min(900, n_jobs // 1000 - 1))
    cases = [
        ("GET /jobs/ first page (1000 rows)", "/jobs/?page_size=1000"),
        ("GET /jobs/ status + job_type_id (1000)", f"/jobs/?page_size=1000&status=COMPLETED&job_type_id={type_id}"),
        (f"GET /jobs/ deep page {deep} (1000 rows)", f"/jobs/?page_size=1000&page={deep}"),
        ("GET /jobs/<id>/", f"/jobs/{middle}/"),
        ("GET /jobs/ newest first (1000)", "/jobs/?page_size=1000&order=-last_modified"),
        ("GET /jobs/executions/ (1000)", "/jobs/executions/?page_size=1000"),
        ("GET /job-executions/ (1000)", "/job-executions/?page_size=1000"),
        ("GET /job-executions/ job_type_id (1000)", f"/job-executions/?page_size=1000&job_type_id={type_id}"),
    ]
    client = app.test_client()
    print(f"\n{n_jobs:,} jobs; median of {args.repeat} requests; target {TARGET:.2f} s\n")
    print(f"{'case':45} {'median':>9} {'rows':>6}  result")
    failed = False
    for label, url in cases:
        seconds, status, rows = timed(client, url, args.repeat)
        ok = status == 200 and seconds < TARGET
        failed |= not ok and label.startswith("GET /jobs/")
        print(f"{label:45} {seconds * 1000:7.1f}ms {rows:6}  {'ok' if ok else 'SLOW' if status == 200 else status}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
