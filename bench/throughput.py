"""Throughput in one run on this machine:
(a) raw Celery+Redis no-op tasks per second;
(p) the peer: a hand-written Celery task that runs `/bin/true` with subprocess.run (bench/peer.py,
    2 prefork workers, same Redis server) -- what a user could write instead of this system;
(b) `/bin/true` jobs per second end to end (HTTP API -> queue -> scheduler -> local cluster -> Celery ->
    COMPLETED), queued one request at a time (4 client threads);
(c) the same, queued 100 per request through POST /queue/new-jobs/.

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


def peer(system: System, n: int) -> tuple[float, float]:
    """Jobs per second of the hand-written peer, and its worker's CPU per job in ms."""
    import redis

    url = system.env["REDIS_URL"].rsplit("/", 1)[0] + "/1"
    env = dict(system.env, PEER_BROKER_URL=url)
    worker = system.start_process(
        "peer",
        [
            sys.executable,
            "-m",
            "celery",
            "-A",
            "bench.peer",
            "worker",
            "--loglevel",
            "WARNING",
            "--concurrency",
            "2",
            "--without-gossip",
            "--without-mingle",
            "--without-heartbeat",
        ],
        env=env,
    )
    os.environ["PEER_BROKER_URL"] = url
    from bench.peer import run_command

    client = redis.Redis.from_url(url)
    run_command.delay(["/bin/true"], "peer:warmup")
    while not client.get("peer:warmup"):
        time.sleep(0.05)
    cpu_before = process_cpu_seconds(worker.pid)
    started = time.time()
    for _ in range(n):
        run_command.delay(["/bin/true"], "peer:done")
    while int(client.get("peer:done") or 0) < n:
        time.sleep(0.01)
    elapsed = time.time() - started
    cpu_ms = (process_cpu_seconds(worker.pid) - cpu_before) * 1000 / n
    system.stop_process(worker)
    return n / elapsed, cpu_ms


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


def end_to_end(system: System, n: int, batch: int = 1) -> tuple[float, float, dict[str, float]]:
    """(jobs/s end to end, jobs/s accepted by the API, CPU ms per job by process); `batch` > 1 queues
    that many jobs per request through POST /queue/new-jobs/."""
    job_type = system.post(
        "/job-types/",
        {
            "name": f"noop-{batch}",
            "version": "1.0",
            "title": "No-op",
            "description": "exits at once",
            "max_tries": 1,
            "cpus_required": 0.01,
            "mem_required": 1.0,
            "disk_out_const_required": 0.0,
            "interface": {
                "version": "1.0",
                "command": "/bin/true",
                "command_arguments": "",
                "input_data": [],
                "output_data": [],
            },
        },
    )
    body = {"job_type_id": job_type["id"], "job_data": {"version": "1.0", "input_data": [], "output_data": []}}
    db = sqlite3.connect(system.dir / "scale.db", timeout=30)

    def completed() -> int:
        return db.execute("select count(*) from job where status = 'COMPLETED'").fetchone()[0]

    done_before = completed()
    system.post("/queue/new-job/", body)  # warm-up
    while completed() < done_before + 1:
        time.sleep(0.05)
    cpu_before = {name: process_cpu_seconds(p.pid) for name, p in system.named_processes().items()}
    started = time.time()
    if batch > 1:
        for start in range(0, n, batch):
            system.post("/queue/new-jobs/", {"jobs": [body] * min(batch, n - start)})
    else:
        with ThreadPoolExecutor(max_workers=4) as pool:
            list(pool.map(lambda _: system.post("/queue/new-job/", body), range(n)))
    submitted = time.time() - started
    while completed() < done_before + n + 1:
        failed = db.execute("select count(*) from job where status = 'FAILED'").fetchone()[0]
        if failed:
            raise RuntimeError(f"{failed} no-op jobs failed; see {system.dir}")
        time.sleep(0.05)
    elapsed = time.time() - started
    cpu_ms = {
        name: (process_cpu_seconds(p.pid) - cpu_before[name]) * 1000 / n for name, p in system.named_processes().items()
    }
    return n / elapsed, n / submitted, cpu_ms


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--tasks", type=int, default=3000)
    parser.add_argument("--jobs", type=int, default=1000)
    args = parser.parse_args()
    system = System().start()
    try:
        raw = raw_celery(system, args.tasks)
        peer_rate, peer_cpu = peer(system, args.jobs)
        e2e, submit_rate, cpu_ms = end_to_end(system, args.jobs)
        batched, batch_submit, batch_cpu = end_to_end(system, args.jobs, batch=100)
    finally:
        system.stop()
    print(f"(a) raw Celery+Redis no-op tasks:      {raw:8.1f} tasks/s  ({args.tasks} tasks, 2 prefork workers)")
    print(
        f"(p) peer: Celery task + subprocess.run {peer_rate:8.1f} jobs/s   ({args.jobs} x /bin/true, 2 prefork workers; "
        f"{peer_cpu:.1f} ms CPU per job)"
    )
    print(
        f"(b) end-to-end, one job per request:   {e2e:8.1f} jobs/s   ({args.jobs} jobs; API accepted {submit_rate:.1f} jobs/s)"
    )
    print(f"(c) end-to-end, 100 jobs per request:  {batched:8.1f} jobs/s   (API accepted {batch_submit:.1f} jobs/s)")
    print(f"ratio (b)/(p): {e2e / peer_rate:.2f}   (target >= 0.5);  (c)/(p): {batched / peer_rate:.2f}")
    for label, cpu in (("(b)", cpu_ms), ("(c)", batch_cpu)):
        print(
            f"CPU per job {label}: "
            + ", ".join(f"{name} {ms:.1f} ms" for name, ms in cpu.items())
            + f"  (this machine has {os.cpu_count()} cores)"
        )


if __name__ == "__main__":
    main()
