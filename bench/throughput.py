"""Throughput in one run on this machine: (a) raw Celery+Redis no-op tasks per second, (b) no-op
jobs per second end to end (HTTP API -> queue -> scheduler -> local cluster -> Celery -> COMPLETED).

    .venv/bin/python bench/throughput.py [--tasks 3000] [--jobs 1000]
"""
from __future__ import annotations

import argparse
import os
import sqlite3
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.processes import System  # noqa: E402


def raw_celery(system: System, n: int) -> float:
    os.environ["REDIS_URL"] = system.env["REDIS_URL"]
    import redis

    from app.settings import settings

    settings.reload()
    from tasks.celery_app import app

    app.conf.broker_url = system.env["REDIS_URL"]
    from tasks.maintenance import ping

    client = redis.Redis.from_url(system.env["REDIS_URL"])
    ping.delay("bench:warmup")
    while not client.get("bench:warmup"):
        time.sleep(0.05)
    key = "bench:ping"
    client.delete(key)
    started = time.time()
    for _ in range(n):
        ping.delay(key)
    while int(client.get(key) or 0) < n:
        time.sleep(0.01)
    return n / (time.time() - started)


def process_cpu_seconds(pid: int) -> float:
    """CPU time of a process and its children (prefork workers, gunicorn workers, finished tasks)."""
    pids = [pid]
    try:
        for thread in os.listdir(f"/proc/{pid}/task"):
            with open(f"/proc/{pid}/task/{thread}/children") as fh:
                pids.extend(int(c) for c in fh.read().split())
    except OSError:
        pass
    total = 0.0
    for p in pids:
        try:
            with open(f"/proc/{p}/stat") as fh:
                fields = fh.read().rsplit(")", 1)[1].split()
            total += sum(int(f) for f in fields[11:15]) / os.sysconf("SC_CLK_TCK")
        except OSError:
            pass
    return total


def end_to_end(system: System, n: int) -> tuple[float, float, dict[str, float]]:
    job_type = system.post("/job-types/", {
        "name": "noop", "version": "1.0", "title": "No-op", "description": "exits at once", "max_tries": 1,
        "cpus_required": 0.01, "mem_required": 1.0, "disk_out_const_required": 0.0,
        "interface": {"version": "1.0", "command": "/bin/true", "command_arguments": "", "input_data": [], "output_data": []},
    })
    body = {"job_type_id": job_type["id"], "job_data": {"version": "1.0", "input_data": [], "output_data": []}}
    system.post("/queue/new-job/", body)  # warm-up
    db = sqlite3.connect(system.dir / "scale.db", timeout=30)

    def completed() -> int:
        return db.execute("select count(*) from job where status = 'COMPLETED'").fetchone()[0]

    while completed() < 1:
        time.sleep(0.05)
    cpu_before = {name: process_cpu_seconds(p.pid) for name, p in system.named_processes().items()}
    started = time.time()
    with ThreadPoolExecutor(max_workers=4) as pool:
        list(pool.map(lambda _: system.post("/queue/new-job/", body), range(n)))
    submitted = time.time() - started
    while completed() < n + 1:
        failed = db.execute("select count(*) from job where status = 'FAILED'").fetchone()[0]
        if failed:
            raise RuntimeError(f"{failed} no-op jobs failed; see {system.dir}")
        time.sleep(0.05)
    elapsed = time.time() - started
    cpu_ms = {name: (process_cpu_seconds(p.pid) - cpu_before[name]) * 1000 / n for name, p in system.named_processes().items()}
    return n / elapsed, n / submitted, cpu_ms


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--tasks", type=int, default=3000)
    parser.add_argument("--jobs", type=int, default=1000)
    args = parser.parse_args()
    system = System().start()
    try:
        raw = raw_celery(system, args.tasks)
        e2e, submit_rate, cpu_ms = end_to_end(system, args.jobs)
    finally:
        system.stop()
    print(f"(a) raw Celery+Redis no-op tasks:      {raw:8.1f} tasks/s  ({args.tasks} tasks, 2 prefork workers)")
    print(f"(b) end-to-end no-op jobs:             {e2e:8.1f} jobs/s   ({args.jobs} jobs; API accepted {submit_rate:.1f} jobs/s)")
    print(f"ratio (b)/(a): {e2e / raw:.2f}   (target >= 0.5)")
    print("CPU per end-to-end job: " + ", ".join(f"{name} {ms:.1f} ms" for name, ms in cpu_ms.items())
          + f"  (this machine has {os.cpu_count()} cores)")


if __name__ == "__main__":
    main()
