"""Strike latency: from the final rename of a file to (a) its ingest INGESTED and (b) the job its ingest
rule triggered QUEUED.

    .venv/bin/python bench/strike_latency.py [--files 500] [--rate 100] [--celery] [--dir DIR] [--keep]

Runs the real Strike watcher (watchdog on a temporary directory) on its own migrated SQLite database.
Each file is written with the transfer suffix, then renamed; the rename time is the start of the
measurement. The ingest runs in-process on a thread pool by default (what the Celery task would call);
`--celery` starts a Redis server and a real Celery worker and sends the ingest messages through them.
`--rate 0` drops every file at once (a burst: queueing dominates). Target: median < 1 s.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

TARGET = 1.0


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--files", type=int, default=500, help="files to drop (default 500)")
    parser.add_argument("--rate", type=float, default=100.0, help="files per second; 0 drops them all at once")
    parser.add_argument("--size", type=int, default=4096, help="bytes per file")
    parser.add_argument("--celery", action="store_true", help="ingest through Redis and a Celery worker process")
    parser.add_argument(
        "--workers",
        type=int,
        default=0,
        help="in-process ingest threads; 0 (default) ingests on the watcher's own thread, which "
        "avoids SQLite write-lock contention between threads",
    )
    parser.add_argument("--dir", type=Path, default=None, help="working directory (default: a temp dir)")
    parser.add_argument("--keep", action="store_true", help="keep the working directory")
    return parser.parse_args()


def configure(directory: Path) -> None:
    directory.mkdir(parents=True, exist_ok=True)
    os.environ["SCALE_VAR_DIR"] = str(directory)
    os.environ["DATABASE_URL"] = f"sqlite:///{directory / 'bench.db'}"
    os.environ.setdefault("LOG_LEVEL", "WARNING")
    subprocess.run([sys.executable, "-m", "app.migrate"], cwd=ROOT, env=os.environ, check=True, capture_output=True)


def start_redis(directory: Path) -> subprocess.Popen:
    from tests.conftest import free_port, redis_server_binary

    port = free_port()
    proc = subprocess.Popen(
        [
            redis_server_binary(),
            "--port",
            str(port),
            "--bind",
            "127.0.0.1",
            "--save",
            "",
            "--appendonly",
            "no",
            "--dir",
            str(directory),
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    os.environ["REDIS_URL"] = f"redis://127.0.0.1:{port}/0"
    import socket

    deadline = time.time() + 10
    while time.time() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return proc
        except OSError:
            time.sleep(0.05)
    proc.kill()
    raise RuntimeError("redis-server did not start")


def start_celery_worker(directory: Path) -> subprocess.Popen:
    log = open(directory / "celery.log", "w")
    return subprocess.Popen(
        [
            sys.executable,
            "-m",
            "celery",
            "-A",
            "tasks.celery_app",
            "worker",
            "--loglevel",
            "WARNING",
            "--concurrency",
            "2",
            "--pool",
            "prefork",
            "--without-gossip",
            "--without-mingle",
        ],
        cwd=ROOT,
        env=os.environ,
        stdout=log,
        stderr=subprocess.STDOUT,
    )


def setup_rows(directory: Path) -> Path:
    from app.db import session_scope
    from app.models import JobType, JobTypeRevision, TriggerRule, Workspace
    from app.services import strike as strike_service
    from app.specs.job_interface import validate_job_interface

    with session_scope() as s:
        s.add(
            Workspace(
                name="raw",
                title="raw",
                json_config={"version": "1.0", "broker": {"type": "host", "host_path": str(directory / "workspace")}},
            )
        )
        s.flush()
        rule = TriggerRule(
            type="INGEST",
            name="bench",
            configuration={
                "version": "1.0",
                "condition": {"media_type": "text/plain"},
                "data": {"input_data_name": "input_file", "workspace_name": "raw"},
            },
        )
        s.add(rule)
        s.flush()
        interface = validate_job_interface(
            {
                "version": "1.0",
                "command": "wc",
                "command_arguments": "${input_file}",
                "input_data": [{"name": "input_file", "type": "file"}],
                "output_data": [],
            }
        )
        job_type = JobType(name="bench-count", version="1.0", interface=interface, trigger_rule_id=rule.id)
        s.add(job_type)
        s.flush()
        s.add(JobTypeRevision(job_type_id=job_type.id, revision_num=1, interface=interface))
        strike = strike_service.create_strike(
            s,
            "bench",
            {
                "version": "1.0",
                "mount": "bench:/incoming",
                "transfer_suffix": "_tmp",
                "files_to_ingest": [
                    {"filename_regex": r".*\.txt$", "workspace_path": "bench", "workspace_name": "raw"}
                ],
            },
        )
        return strike_service.strike_directory(strike.configuration)


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(fraction * (len(ordered) - 1))))]


def main() -> None:
    args = parse_args()
    directory = args.dir or Path(tempfile.mkdtemp(prefix="strike-bench-"))
    configure(directory)
    helpers: list[subprocess.Popen] = []
    try:
        if args.celery:
            helpers.append(start_redis(directory))
        from app.settings import settings

        settings.reload()
        strike_dir = setup_rows(directory)
        strike_dir.mkdir(parents=True, exist_ok=True)

        from app.db import session_scope
        from app.models import Ingest, Job, JobType
        from app.services import ingest as ingest_service
        from sqlalchemy import func, select
        from workers.strike import StrikeWatcher

        pool = None
        if args.celery:
            helpers.append(start_celery_worker(directory))
            submit = None  # the default: the Celery task tasks.ingest.ingest_files
            mode = "Celery worker process (2 prefork children) through Redis"
        elif args.workers:
            pool = ThreadPoolExecutor(max_workers=args.workers)
            submit = lambda ids: pool.submit(ingest_service.ingest_files, ids)  # noqa: E731
            mode = f"in-process: ingest service called on {args.workers} threads (no Celery)"
        else:
            submit = ingest_service.ingest_files
            mode = "in-process: ingest service called on the watcher thread right after each decision (no Celery)"

        watcher = StrikeWatcher(submit=submit, poll_interval=1.0, rescan_interval=5.0)
        thread = threading.Thread(target=watcher.run, daemon=True)
        thread.start()
        watcher.ready.wait(10)
        if args.celery:
            time.sleep(3)  # let the worker connect

        payload = b"x" * args.size
        renamed_at: dict[str, float] = {}
        interval = 1.0 / args.rate if args.rate > 0 else 0.0
        started = time.time()
        for i in range(args.files):
            name = f"file-{i:05d}.txt"
            partial = strike_dir / f"{name}_tmp"
            with open(partial, "wb") as fh:
                fh.write(payload)
            os.rename(partial, strike_dir / name)
            renamed_at[name] = time.time()
            if interval:
                time.sleep(max(0.0, started + (i + 1) * interval - time.time()))
        dropped = time.time() - started

        deadline = time.time() + 120
        while time.time() < deadline:
            with session_scope() as s:
                done = s.scalar(select(func.count()).select_from(Ingest).where(Ingest.status == "INGESTED"))
                queued = s.scalar(select(func.count()).select_from(Job).where(Job.status == "QUEUED"))
            if done >= args.files and queued >= args.files:
                break
            time.sleep(0.2)
        watcher.stop()
        thread.join(15)
        if pool is not None:
            pool.shutdown(wait=True)

        with session_scope() as s:
            ingests = {i.file_name: i for i in s.scalars(select(Ingest))}
            triggered = s.scalars(select(Job).join(JobType).where(JobType.is_system.is_(False)))  # not Strike's own
            jobs = {j.data["input_data"][0]["file_id"]: j for j in triggered}
        to_ingested, to_queued = [], []
        for name, t0 in renamed_at.items():
            ingest = ingests.get(name)
            if ingest is None or ingest.status != "INGESTED":
                continue
            to_ingested.append(ingest.ingest_ended.timestamp() - t0)
            job = jobs.get(ingest.source_file_id)
            if job is not None and job.queued is not None:
                to_queued.append(job.queued.timestamp() - t0)

        print(
            f"Strike latency bench: {args.files} files of {args.size} B dropped in {dropped:.2f} s "
            f"({'all at once' if not interval else f'{args.rate:g} files/s'}), rename -> ..."
        )
        print(f"  watcher: real watchdog observer; ingest: {mode}")
        for label, values in (("(a) INGESTED", to_ingested), ("(b) triggered job QUEUED", to_queued)):
            if values:
                median = statistics.median(values)
                print(
                    f"  {label:26s} n={len(values):4d}  median {median * 1000:7.1f} ms  p95 {percentile(values, 0.95) * 1000:7.1f} ms"
                    f"  max {max(values) * 1000:7.1f} ms  {'OK' if median < TARGET else 'OVER'} (target median < {TARGET:g} s)"
                )
            else:
                print(f"  {label:26s} no samples")
        missing = args.files - len(to_ingested)
        if missing:
            print(f"  {missing} files were not INGESTED within the time limit")
    finally:
        for proc in reversed(helpers):
            proc.terminate()
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                proc.kill()
        if not args.keep and args.dir is None:
            shutil.rmtree(directory, ignore_errors=True)


if __name__ == "__main__":
    main()
