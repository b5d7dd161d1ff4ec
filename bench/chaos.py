"""Chaos at size: queue many recorded jobs and a few three-step recipes, kill -9 processes of the running
system one after another (each started again at once, as `make run`'s supervisor does), and print what an
operator would check: jobs lost, jobs not COMPLETED (each has max_tries 1, so a try spent on the
infrastructure fails it), jobs whose command ran to completion twice, recipes not completed.

    python -m bench.chaos --jobs 1000 --kill worker,scheduler,cluster,redis,web,beat --every 5
"""

from __future__ import annotations

import argparse
import sqlite3
import sys
import time
from collections import Counter
from pathlib import Path

from bench.processes import ROOT, System

RECORD_SCRIPT = ROOT / "tests" / "scripts" / "record_run.py"
# Reconcile quickly so a lost message or a lost task is repaired within a run.
CHAOS_ENV = {"RECONCILE_INTERVAL": "3", "SCHEDULER_RECONCILE_INTERVAL": "5"}
JOB_DATA = {"version": "1.0", "input_data": [], "output_data": []}


def start(cluster_cpus: float = 8, cluster_mem: float = 8192) -> System:
    system = System(cluster_cpus=cluster_cpus, cluster_mem=cluster_mem)
    system.env.update(CHAOS_ENV)
    system.start(beat=True)
    system.start_process("strike", [sys.executable, "-m", "workers.strike"])
    return system


def watch(system: System) -> Path:
    """A workspace and a Strike ingesting every `*.dat` file dropped in the directory returned."""
    root = system.dir / "workspaces" / "chaos"
    root.mkdir(parents=True, exist_ok=True)
    system.post(
        "/workspaces/",
        {
            "name": "chaos",
            "title": "Chaos",
            "description": "files ingested during a chaos run",
            "base_url": "http://host.com/chaos",
            "json_config": {"version": "1.0", "broker": {"type": "host", "host_path": str(root)}},
        },
    )
    system.post(
        "/strike/create/",
        {
            "name": "chaos",
            "title": "Chaos",
            "description": "ingests every file dropped",
            "configuration": {
                "version": "1.0",
                "mount": "host:/transfer/chaos",
                "transfer_suffix": "_tmp",
                "files_to_ingest": [{"filename_regex": r".*\.dat", "workspace_path": "in", "workspace_name": "chaos"}],
            },
        },
    )
    directory = system.dir / "mounts" / "host" / "transfer" / "chaos"
    directory.mkdir(parents=True, exist_ok=True)
    return directory


def drop(directory: Path, names: list[str]) -> None:
    """Write each file under its transfer name, then rename it: how a transfer lands."""
    for name in names:
        (directory / (name + "_tmp")).write_bytes(name.encode() * 64)
        (directory / (name + "_tmp")).rename(directory / name)


def ingests(system: System, names: list[str]) -> dict[str, list[str]]:
    """The statuses of the ingests of each file name."""
    rows = query(system, f"select file_name, status from ingest where file_name in {in_list(names)}", *names)
    found: dict[str, list[str]] = {name: [] for name in names}
    for name, status in rows:
        found[name].append(status)
    return found


def ingest_problems(system: System, names: list[str]) -> dict[str, list[str]]:
    found = ingests(system, names)
    return {
        "not ingested": [n for n, statuses in found.items() if statuses.count("INGESTED") != 1],
        "ingested more than once": [n for n, statuses in found.items() if len(statuses) > 1],
    }


def register(system: System, run_seconds: float) -> tuple[dict, dict]:
    """A job type whose every real run is recorded in <dir>/runs.txt, and a three-step chain of it."""
    job_type = system.post(
        "/job-types/",
        {
            "name": "recorded",
            "version": "1.0",
            "title": "Recorded",
            "description": "records each real run",
            "max_tries": 1,
            "cpus_required": 0.25,
            "mem_required": 16.0,
            "disk_out_const_required": 0.0,
            "interface": {
                "version": "1.0",
                "command": f"{sys.executable} {RECORD_SCRIPT}",
                "command_arguments": f"{record_path(system)} {run_seconds}",
                "input_data": [],
                "output_data": [],
            },
        },
    )
    step = {"name": "recorded", "version": "1.0"}
    recipe_type = system.post(
        "/recipe-types/",
        {
            "name": "chain",
            "version": "1.0",
            "title": "Chain",
            "description": "three steps",
            "definition": {
                "version": "1.0",
                "input_data": [],
                "jobs": [
                    {"name": "a", "job_type": step},
                    {"name": "b", "job_type": step, "dependencies": [{"name": "a", "connections": []}]},
                    {"name": "c", "job_type": step, "dependencies": [{"name": "b", "connections": []}]},
                ],
            },
        },
    )
    return job_type, recipe_type


def record_path(system: System) -> Path:
    return system.dir / "runs.txt"


def queue(system: System, job_type: dict, recipe_type: dict, jobs: int, recipes: int) -> tuple[list[int], list[int]]:
    body = {"job_type_id": job_type["id"], "job_data": JOB_DATA}
    job_ids: list[int] = []
    for first in range(0, jobs, 1000):
        answer = system.post("/queue/new-jobs/", {"jobs": [body] * min(1000, jobs - first)})
        job_ids += [j["id"] for j in answer["jobs"]]
    recipe_data = {"version": "1.0", "input_data": []}
    recipe_ids = [
        system.post("/queue/new-recipe/", {"recipe_type_id": recipe_type["id"], "recipe_data": recipe_data})["id"]
        for _ in range(recipes)
    ]
    return job_ids, recipe_ids


def query(system: System, sql: str, *args) -> list[tuple]:
    with sqlite3.connect(system.dir / "scale.db", timeout=30) as db:
        return db.execute(sql, args).fetchall()


def running(system: System, job_ids: list[int]) -> int:
    return query(system, f"select count(*) from job where status = 'RUNNING' and id in {in_list(job_ids)}", *job_ids)[
        0
    ][0]


def in_list(ids: list[int]) -> str:
    """`(?,?,...)` for a query's IN clause (never empty: no id is -1)."""
    return "(" + ",".join("?" * len(ids)) + ")" if ids else "(-1)"


def all_job_ids(system: System, job_ids: list[int], recipe_ids: list[int]) -> list[int]:
    in_recipes = query(system, f"select job_id from recipe_job where recipe_id in {in_list(recipe_ids)}", *recipe_ids)
    return job_ids + [r[0] for r in in_recipes]


def open_recipes(system: System, recipe_ids: list[int]) -> list[int]:
    sql = f"select id from recipe where id in {in_list(recipe_ids)} and completed is null"
    return [r[0] for r in query(system, sql, *recipe_ids)]


def settled(system: System, job_ids: list[int], recipe_ids: list[int]) -> bool:
    """Every job ended, every recipe created its three jobs and completed."""
    ids = all_job_ids(system, job_ids, recipe_ids)
    sql = f"select count(*) from job where id in {in_list(ids)} and status not in ('COMPLETED', 'FAILED', 'CANCELED')"
    open_jobs = query(system, sql, *ids)[0][0]
    all_created = len(ids) - len(job_ids) == 3 * len(recipe_ids)
    return open_jobs == 0 and all_created and not open_recipes(system, recipe_ids)


def problems(system: System, job_ids: list[int], recipe_ids: list[int]) -> dict[str, list[int]]:
    """What went wrong, by kind; all lists empty means nothing was lost, run twice or spent on the infrastructure."""
    ids = all_job_ids(system, job_ids, recipe_ids)
    statuses = dict(query(system, f"select id, status from job where id in {in_list(ids)}", *ids))
    record = record_path(system)
    lines = record.read_text().splitlines() if record.exists() else []
    ended = Counter(line.split()[1] for line in lines if line.startswith("end "))
    executions = query(system, f"select job_id, id from job_exe where job_id in {in_list(ids)}", *ids)
    completed_runs = Counter(job for job, exe in executions if ended[f"scale-exe-{exe}"])
    return {
        "not finished": [j for j, s in statuses.items() if s not in ("COMPLETED", "FAILED", "CANCELED")],
        "not completed (a try spent on the infrastructure)": [
            j for j, s in statuses.items() if s in ("FAILED", "CANCELED")
        ],
        "ran to completion more than once": [j for j, n in completed_runs.items() if n > 1],
        "recipes not completed": open_recipes(system, recipe_ids),
    }


def wait(predicate, timeout: float, what: str, system: System) -> None:
    deadline = time.time() + timeout
    while time.time() < deadline:
        if predicate():
            return
        time.sleep(0.25)
    raise RuntimeError(f"timed out waiting for {what}; see {system.dir}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--jobs", type=int, default=1000)
    parser.add_argument("--recipes", type=int, default=10)
    parser.add_argument("--run-seconds", type=float, default=1.0, help="how long each job's command runs")
    parser.add_argument("--kill", default="worker,scheduler,cluster,redis,web,beat")
    parser.add_argument("--every", type=float, default=5.0, help="seconds between kills")
    args = parser.parse_args()
    system = start()
    try:
        job_type, recipe_type = register(system, args.run_seconds)
        started = time.time()
        job_ids, recipe_ids = queue(system, job_type, recipe_type, args.jobs, args.recipes)
        wait(lambda: running(system, job_ids) >= 3, 120, "jobs running", system)
        victims = [v for v in args.kill.split(",") if v]
        for victim in victims:
            time.sleep(args.every)
            system.kill_and_restart(victim)
            print(f"{time.time() - started:7.1f} s  killed and restarted {victim}", flush=True)
        wait(lambda: settled(system, job_ids, recipe_ids), 3600, "every job and recipe to finish", system)
        elapsed = time.time() - started
        found = problems(system, job_ids, recipe_ids)
        total = len(all_job_ids(system, job_ids, recipe_ids))
        print(
            f"\n{total} jobs ({args.jobs} alone, {args.recipes} three-step recipes), {len(victims)} kills, {elapsed:.1f} s"
        )
        for what, items in found.items():
            print(f"  {what:<52} {len(items):>6}" + (f"   e.g. {items[:5]}" if items else ""))
        if any(found.values()):
            raise SystemExit(f"chaos found problems; see {system.dir}")
    finally:
        system.stop()


if __name__ == "__main__":
    main()
