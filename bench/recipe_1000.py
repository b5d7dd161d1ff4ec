"""A 1,000-node recipe of no-op jobs: wide layers with fan-in, a deep chain, and a 201-parent join at the end.

Two ways to run it:

  python -m bench.recipe_1000 --simulate
      Database only (a fresh SQLite file under a temporary directory): creates the recipe, then plays the
      execution stack by marking queued jobs COMPLETED in batches and running the recipe update after each
      batch, as `tasks.jobs.finish_executions` -> `tasks.jobs.update_recipes` would. Measures the recipe code.

  python -m bench.recipe_1000 [--api http://127.0.0.1:8000] [--timeout 1800]
      The full stack (started by the bench on free ports, or the one --api points at): registers a no-op job type
      and the recipe type through the REST API, queues the recipe with POST /queue/new-recipe/ and polls
      GET /recipes/<id>/ until it is completed. Measures end-to-end throughput.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path

NOOP_INTERFACE = {"version": "1.0", "command": "true", "command_arguments": "", "input_data": [], "output_data": []}
WIDTH, LAYERS, CHAIN = 200, 4, 198  # 1 root + 4 x 200 + 198 chain + 1 join = 1,000 jobs


def definition(job_type_name: str, job_type_version: str) -> dict:
    job_type = {"name": job_type_name, "version": job_type_version}

    def job(name: str, parent_names: list[str]) -> dict:
        return {"name": name, "job_type": job_type, "dependencies": [{"name": p} for p in parent_names]}

    jobs = [job("start", [])]
    previous = ["start"] * WIDTH
    for layer in range(1, LAYERS + 1):
        current = [f"L{layer}-{j}" for j in range(WIDTH)]
        for j, name in enumerate(current):
            # Fan-in of two (one parent for the first layer) so a layer waits on its neighbours too.
            jobs.append(job(name, sorted({previous[j], previous[(j + 1) % WIDTH]})))
        previous = current
    chain_parent = "start"
    for k in range(1, CHAIN + 1):
        jobs.append(job(f"C{k}", [chain_parent]))
        chain_parent = f"C{k}"
    jobs.append(job("end", previous + [chain_parent]))
    assert len(jobs) == 1000
    return {"version": "1.0", "input_data": [], "jobs": jobs}


def report(label: str, values: list[float]) -> str:
    if not values:
        return f"{label}: none"
    ordered = sorted(values)
    p95 = ordered[min(len(ordered) - 1, int(len(ordered) * 0.95))]
    return (
        f"{label}: n={len(values)} median={statistics.median(values) * 1000:.1f} ms "
        f"mean={statistics.mean(values) * 1000:.1f} ms p95={p95 * 1000:.1f} ms max={ordered[-1] * 1000:.1f} ms "
        f"total={sum(values):.2f} s"
    )


# ---------------------------------------------------------------- database only


def simulate(batch: int) -> int:
    var = Path(tempfile.mkdtemp(prefix="scale-bench-"))
    os.environ["SCALE_VAR_DIR"] = str(var)
    os.environ["DATABASE_URL"] = f"sqlite:///{var / 'scale.db'}"
    from app.settings import settings

    settings.reload()
    from sqlalchemy import select

    from app.db import session_scope, utcnow, with_retry
    from app.migrate import migrate
    from app.models import Job, JobType, JobTypeRevision, Recipe, RecipeJob, RecipeType, RecipeTypeRevision
    from app.services.recipes import create_recipe, recipes_needing_update, update_recipes

    migrate()
    defn = definition("bench-noop", "1.0")
    with session_scope() as session:
        jt = JobType(name="bench-noop", version="1.0", interface=NOOP_INTERFACE, revision_num=1)
        rt = RecipeType(name="bench-1000", version="1.0", definition=defn, revision_num=1)
        session.add_all([jt, rt])
        session.flush()
        session.add_all(
            [
                JobTypeRevision(job_type_id=jt.id, revision_num=1, interface=NOOP_INTERFACE),
                RecipeTypeRevision(recipe_type_id=rt.id, revision_num=1, definition=defn),
            ]
        )
        rt_id = rt.id

    started = time.perf_counter()
    with session_scope() as session:
        recipe, _ = create_recipe(session, session.get(RecipeType, rt_id), {"version": "1.0", "input_data": []})
        recipe_id = recipe.id
    create_seconds = time.perf_counter() - started

    def queued_ids(session) -> list[int]:
        return list(
            session.scalars(
                select(Job.id)
                .join(RecipeJob, RecipeJob.job_id == Job.id)
                .where(RecipeJob.recipe_id == recipe_id, Job.status == "QUEUED")
                .order_by(Job.id)
            )
        )

    def finish(session, ids: list[int]) -> None:
        now = utcnow()
        for job in session.scalars(select(Job).where(Job.id.in_(ids))):
            job.status, job.num_exes, job.started, job.ended, job.last_status_change = "COMPLETED", 1, now, now, now
            job.results = {"version": "1.0", "output_data": []}

    update_seconds: list[float] = []
    finished = 0
    run_started = time.perf_counter()
    while True:
        ready = with_retry(queued_ids)
        if not ready:
            break
        for i in range(0, len(ready), batch):
            with_retry(lambda s: finish(s, ready[i : i + batch]))
            finished += len(ready[i : i + batch])
            t0 = time.perf_counter()
            with_retry(lambda s: update_recipes(s, [recipe_id]))
            update_seconds.append(time.perf_counter() - t0)
    run_seconds = time.perf_counter() - run_started

    t0 = time.perf_counter()
    leftover = with_retry(recipes_needing_update)
    scan_seconds = time.perf_counter() - t0
    with session_scope() as session:
        completed = session.get(Recipe, recipe_id).completed

    print(f"recipe {recipe_id}: 1000 jobs, database {settings.database_url}")
    print(f"create_recipe: {create_seconds:.2f} s")
    print(report(f"update_recipes after each batch of {batch}", update_seconds))
    print(f"jobs completed: {finished}; simulated run {run_seconds:.2f} s; recipe completed: {completed is not None}")
    print(f"recipes_needing_update afterwards: {leftover} ({scan_seconds * 1000:.1f} ms)")
    return 0 if finished == 1000 and completed is not None and not leftover else 1


# ---------------------------------------------------------------- full stack


def call(api: str, method: str, path: str, body: dict | None = None) -> dict:
    request = urllib.request.Request(
        f"{api.rstrip('/')}{path}",
        method=method,
        data=json.dumps(body).encode() if body is not None else None,
        headers={"Content-Type": "application/json"},
    )
    try:
        with urllib.request.urlopen(request, timeout=60) as response:
            return json.loads(response.read() or b"{}")
    except urllib.error.HTTPError as exc:
        raise SystemExit(f"{method} {path} -> {exc.code}: {exc.read().decode(errors='replace')}") from None


def _seconds(start: str | None, end: str | None) -> float:
    from datetime import datetime

    if not start or not end:
        return 0.0
    return (
        datetime.fromisoformat(end.replace("Z", "+00:00")) - datetime.fromisoformat(start.replace("Z", "+00:00"))
    ).total_seconds()


def critical_path_seconds(api: str, details: dict) -> float:
    """The longest chain of job run times (job_started -> job_completed of each job's last execution)."""
    definition_jobs = details["recipe_type_rev"]["definition"]["jobs"]
    parents = {j["name"]: [d["name"] for d in j.get("dependencies", [])] for j in definition_jobs}
    job_ids = {entry["job_name"]: entry["job"]["id"] for entry in details["jobs"]}
    run: dict[str, float] = {}
    for name, job_id in job_ids.items():
        exes = call(api, "GET", f"/jobs/{job_id}/").get("job_exes", [])
        run[name] = _seconds(exes[0].get("job_started"), exes[0].get("job_completed")) if exes else 0.0
    longest: dict[str, float] = {}
    for name in topological(parents):
        longest[name] = run[name] + max((longest[p] for p in parents[name]), default=0.0)
    return max(longest.values())


CHAIN_STAGES = (
    ("parent ended -> queued", None, "queued"),  # the recipe update: finish, update_recipes, queue the child
    ("queued -> scheduled", "queued", "started"),  # the scheduler's sync, matching pass and launch
    ("scheduled -> running", "started", "job_started"),  # the cluster: accept, spawn, TASK_RUNNING recorded
    ("running -> command done", "job_started", "job_completed"),
    ("command done -> ended", "job_completed", "ended"),  # TASK_FINISHED to the execution's end
)


def chain_step_breakdown(api: str, details: dict) -> list[str]:
    """Each stage of a step of the chain (C1..C198): where a step's time goes."""
    job_ids = {entry["job_name"]: entry["job"]["id"] for entry in details["jobs"]}
    exes = {}
    for name in ["start", *(f"C{k}" for k in range(1, CHAIN + 1))]:
        runs = call(api, "GET", f"/jobs/{job_ids[name]}/").get("job_exes", [])
        if runs:
            exes[name] = runs[0]
    stages: dict[str, list[float]] = {label: [] for label, _, _ in CHAIN_STAGES}
    for k in range(1, CHAIN + 1):
        child, parent = exes.get(f"C{k}"), exes.get("start" if k == 1 else f"C{k - 1}")
        if child is None or parent is None:
            continue
        for label, start, end in CHAIN_STAGES:
            begin = parent.get("ended") if start is None else child.get(start)
            stages[label].append(_seconds(begin, child.get(end)))
    return [report(f"  {label}", values) for label, values in stages.items() if values]


def topological(parents: dict[str, list[str]]) -> list[str]:
    from app.specs.recipe_definition import topological_order

    return topological_order(
        {"jobs": [{"name": n, "dependencies": [{"name": p} for p in ps]} for n, ps in parents.items()]}
    )


def full_stack(api: str, timeout: float, poll: float) -> int:
    version = time.strftime("%Y%m%d%H%M%S")
    job_type = call(
        api,
        "POST",
        "/job-types/",
        {
            "name": "bench-noop",
            "version": version,
            "title": "Bench no-op",
            "interface": NOOP_INTERFACE,
            "max_tries": 1,
            "cpus_required": 0.1,
            "mem_required": 16.0,
            "disk_out_const_required": 0.0,
        },
    )
    recipe_type = call(
        api,
        "POST",
        "/recipe-types/",
        {"name": "bench-1000", "version": version, "definition": definition("bench-noop", version)},
    )
    started = time.monotonic()
    recipe = call(
        api,
        "POST",
        "/queue/new-recipe/",
        {"recipe_type_id": recipe_type["id"], "recipe_data": {"version": "1.0", "input_data": []}},
    )
    print(f"job type {job_type.get('id')}, recipe type {recipe_type['id']}, recipe {recipe['id']} queued")
    counts: dict[str, int] = {}
    while time.monotonic() - started < timeout:
        details = call(api, "GET", f"/recipes/{recipe['id']}/")
        counts = {}
        for entry in details.get("jobs", []):
            status = entry["job"]["status"]
            counts[status] = counts.get(status, 0) + 1
        elapsed = time.monotonic() - started
        print(f"{elapsed:7.1f} s  {json.dumps(counts, sort_keys=True)}", flush=True)
        if details.get("completed"):
            elapsed = _seconds(details["created"], details["completed"])  # server clock, not the poll's
            print(f"completed 1000 jobs in {elapsed:.1f} s ({1000 / elapsed:.1f} jobs/s), recipe created -> completed")
            critical = critical_path_seconds(api, details)
            print(
                f"critical path: {critical:.1f} s of job run time; orchestration overhead "
                f"{elapsed - critical:.1f} s (target < 10 s)"
            )
            print("a step of the chain, stage by stage:")
            for line in chain_step_breakdown(api, details):
                print(line)
            return 0
        if counts.get("FAILED") or counts.get("BLOCKED") or counts.get("CANCELED"):
            print("a no-op job failed; see GET /jobs/?status=FAILED")
            return 1
        time.sleep(poll)
    print(f"not completed after {timeout:.0f} s: {counts}")
    return 1


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--simulate", action="store_true", help="database only, no cluster")
    parser.add_argument("--batch", type=int, default=10, help="jobs finished per update message (--simulate)")
    parser.add_argument("--api", default=None, help="REST API base URL (default from API_HOST/API_PORT)")
    parser.add_argument("--timeout", type=float, default=1800.0, help="seconds to wait for the recipe")
    parser.add_argument("--poll", type=float, default=1.0, help="seconds between status polls")
    args = parser.parse_args(argv)
    if args.simulate:
        return simulate(args.batch)
    if args.api:
        return full_stack(args.api, args.timeout, args.poll)
    from bench.processes import System

    system = System().start()  # its own Redis, cluster, scheduler, worker and API on free ports
    try:
        return full_stack(system.api, args.timeout, args.poll)
    finally:
        system.stop()


if __name__ == "__main__":
    sys.exit(main())
