"""Benchmark of one scheduling pass: app.scheduling.matching.match() over 1,000 simulated agents
and queues of 1k, 10k and 100k jobs, and over 10,000 agents and 1,000,000 jobs (20 job types; some
paused, some at max_scheduled, one too big for any node; per-job disk sizes all different, as input
file sizes are).

Run:  .venv/bin/python bench/scheduling_pass.py   (or `make bench`)

Three cluster states:
  busy       agents 30-90% used: the pass places jobs until max_launch or until every agent
             is full or reserved;
  saturated  agents 97-100% used, offering only fragments: little fits, jobs reserve agents;
  all-skip   worst case for the queue walk: an idle cluster, but 99% of the queue is paused,
             at max_scheduled or too big, so the pass must look at every job.
The queue is kept in a QueueState and passed grouped (QueueState.grouped), as the scheduler
does; the cost of keeping it grouped and ordered is measured separately below, with the memory a
1,000,000-job QueueState takes.
"""

from __future__ import annotations

import gc
import random
import resource
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from app.scheduling.matching import (  # noqa: E402
    AgentResources,
    JobTypeLimits,
    QueuedJob,
    match,
    order_queue,
)
from app.scheduling.queue_state import QueueState  # noqa: E402

N_AGENTS = 1000
QUEUE_SIZES = (1_000, 10_000, 100_000, 1_000_000)
BIG_QUEUE = 1_000_000
BIG_AGENTS = 10_000  # agents of the cluster the 1M-job queue is matched against
MAX_LAUNCH = 2000  # default of SCHEDULER_MAX_LAUNCH_PER_PASS
TARGET_MS = 100.0
MEMORY_TARGET_MIB = 1024
EXPLAIN = 5000  # default of SCHEDULER_EXPLAIN_JOBS: the pass every SCHEDULER_EXPLAIN_INTERVAL records reasons
RUNS = 7

# (cpus, mem MiB, disk MiB, share of the cluster)
NODE_TYPES = [
    (4, 16_384, 200_000, 0.30),
    (8, 32_768, 400_000, 0.30),
    (16, 65_536, 800_000, 0.20),
    (32, 131_072, 1_600_000, 0.15),
    (16, 262_144, 800_000, 0.05),  # high-memory nodes
]


def make_agents(rng: random.Random, used: tuple[float, float], count: int = N_AGENTS) -> list[AgentResources]:
    agents = []
    weights = [t[3] for t in NODE_TYPES]
    for i in range(count):
        cpus, mem, disk, _ = rng.choices(NODE_TYPES, weights)[0]
        share = rng.uniform(*used)
        run_c = round(cpus * share * rng.uniform(0.9, 1.0), 1)
        run_m = round(mem * share * rng.uniform(0.8, 1.0))
        run_d = round(disk * share * rng.uniform(0.2, 1.0))
        agents.append(
            AgentResources(
                agent_id=f"agent-{i:04d}",
                node_id=i + 1,
                hostname=f"node{i:04d}.cluster",
                cpus=max(0.0, cpus - run_c),
                mem=max(0.0, mem - run_m),
                disk=max(0.0, disk - run_d),
                is_paused=rng.random() < 0.03,
                is_active=rng.random() > 0.01,
                total_cpus=cpus,
                total_mem=mem,
                total_disk=disk,
                running_cpus=run_c,
                running_mem=run_m,
                running_disk=run_d,
            )
        )
    return agents


def make_job_types(rng: random.Random):
    """20 job types: (cpus, mem, disk_out, base priority) plus their limits."""
    shapes = {}
    limits = {}
    for t in range(1, 21):
        shapes[t] = (
            rng.choice([0.5, 1, 1, 2, 2, 4, 8]),
            rng.choice([512, 1024, 2048, 4096, 8192, 16_384]),
            rng.choice([0, 100, 500, 2000]),
            rng.randint(1, 10),
        )
        limits[t] = JobTypeLimits(t)
    shapes[20] = (64, 65_536, 1000, 1)  # larger than any node: a warning, never blocks the queue
    limits[18] = JobTypeLimits(18, is_paused=True)
    limits[19] = JobTypeLimits(19, is_paused=True)
    limits[15] = JobTypeLimits(15, max_scheduled=40, running=25)
    limits[16] = JobTypeLimits(16, max_scheduled=10, running=10)  # already at its limit
    limits[17] = JobTypeLimits(17, max_scheduled=200, running=0)
    return shapes, limits


def make_queue(rng: random.Random, size: int, shapes, type_weights) -> list[QueuedJob]:
    now = 1.7e9
    types_ = list(shapes)
    jobs = []
    for job_id in range(1, size + 1):
        t = rng.choices(types_, type_weights)[0]
        cpus, mem, disk_out, priority = shapes[t]
        disk_in = rng.random() * 5000.0  # input files: every job a different size
        jobs.append(
            QueuedJob(
                job_id,
                t,
                max(1, priority + rng.randint(-1, 1)),
                now - rng.random() * 86_400,
                float(cpus),
                float(mem),
                disk_in + disk_out,
            )
        )
    return jobs


def timed(fn, runs=RUNS):
    """(median ms, best ms, last result) of ``runs`` calls."""
    times = []
    result = None
    for _ in range(runs):
        gc.collect()
        started = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - started)
    return statistics.median(times) * 1000.0, min(times) * 1000.0, result


def main() -> int:
    rng = random.Random(20240601)
    shapes, limits = make_job_types(rng)
    clusters = {
        agents: {
            "busy": make_agents(rng, (0.3, 0.9), agents),
            "saturated": make_agents(rng, (0.97, 1.0), agents),
            "all-skip": make_agents(rng, (0.0, 0.1), agents),
        }
        for agents in (N_AGENTS, BIG_AGENTS)
    }
    even = [1.0] * 20
    # all-skip: 99% of jobs from paused / at-limit / too-big types
    skippy = [0.01 / 15 if t < 16 or t == 17 else 0.99 / 4 for t in range(1, 21)]
    queues: dict[int, dict[str, QueueState]] = {}
    memory_mib = 0.0
    for size in QUEUE_SIZES:
        gc.collect()
        before = rss_mib()
        jobs = make_queue(rng, size, shapes, even)
        even_state = QueueState(jobs)
        even_state.grouped("FIFO")
        del jobs
        gc.collect()
        if size == BIG_QUEUE:
            memory_mib = rss_mib() - before  # the jobs themselves, the dict and the groups
        queues[size] = {"even": even_state, "skippy": QueueState(make_queue(rng, size, shapes, skippy))}

    print(
        f"Scheduling pass: {N_AGENTS:,} agents ({BIG_AGENTS:,} for the {BIG_QUEUE:,}-job queue), 20 job types, "
        f"max_launch={MAX_LAUNCH}, median of {RUNS} runs, Python {sys.version.split()[0]}"
    )
    print(f"explain ms: the same pass recording the reasons of the first {EXPLAIN} jobs it leaves queued")
    print()
    header = (
        f"{'cluster':<10} {'queue':>8} {'median ms':>10} {'best ms':>8} {'explain ms':>10} {'us/job':>7} {'examined':>9} "
        f"{'placed':>7} {'reserved':>9}  skipped"
    )
    print(header)
    print("-" * len(header))
    worst = {size: 0.0 for size in (100_000, BIG_QUEUE)}
    for cluster in clusters[N_AGENTS]:
        for size in QUEUE_SIZES:
            agents = clusters[BIG_AGENTS if size == BIG_QUEUE else N_AGENTS][cluster]
            state = queues[size]["skippy" if cluster == "all-skip" else "even"]
            queue = state.grouped("FIFO")

            def one_pass(explain=0):
                return match(
                    queue,
                    agents,
                    limits,
                    scheduler_paused=False,
                    queue_mode="FIFO",
                    max_launch=MAX_LAUNCH,
                    explain=explain,
                )

            ms, best, result = timed(one_pass)
            explain_ms, _, _ = timed(lambda: one_pass(EXPLAIN))
            not_examined = result.skipped.get("max_launch", 0) + result.skipped.get("no_free_resources", 0)
            skipped = ", ".join(f"{k}={v}" for k, v in sorted(result.skipped.items()))
            print(
                f"{cluster:<10} {size:>8,} {ms:>10.2f} {best:>8.2f} {explain_ms:>10.2f} {ms * 1000 / size:>7.3f} "
                f"{size - not_examined:>9,} "
                f"{len(result.assignments):>7,} {len(result.reserved_agents):>9,}  {skipped}"
            )
            if size in worst:
                worst[size] = max(worst[size], ms)
    print()

    print("Keeping the queue grouped and ordered (QueueState) vs sorting it every pass:")
    header = (
        f"{'queue':>9} {'order_queue() ms':>17} {'first grouped() ms':>19} {'k':>6} "
        f"{'remove k, add k, grouped() ms':>30} {'unchanged grouped() us':>23}"
    )
    print(header)
    print("-" * len(header))
    for size in QUEUE_SIZES:
        jobs = list(queues[size]["even"].grouped("FIFO"))
        runs = 3 if size == BIG_QUEUE else 5
        sort_ms, _, _ = timed(lambda: order_queue(jobs, "FIFO"), runs=runs)
        build_ms, _, _ = timed(lambda: QueueState(jobs).grouped("FIFO"), runs=runs)
        state = QueueState(jobs)
        state.grouped("FIFO")
        churn = min(2000, size // 2)
        next_id = [size + 1]

        def launch_and_sync():
            # a pass launched `churn` jobs (removed) and the sync found `churn` new ones
            victims = [j.job_id for j in state.grouped("FIFO").head(churn)]
            fresh = make_queue(random.Random(next_id[0]), churn, shapes, even)
            for j in fresh:
                j.job_id = next_id[0]
                next_id[0] += 1
            started = time.perf_counter()
            state.remove(victims)
            state.add(fresh)
            state.grouped("FIFO")
            return time.perf_counter() - started

        churn_ms = statistics.median(launch_and_sync() for _ in range(runs)) * 1000.0
        cached_ms, _, _ = timed(
            lambda: [state.grouped("FIFO") for _ in range(1000)], runs=runs
        )  # ms per 1000 calls = us per call
        print(f"{size:>9,} {sort_ms:>17.2f} {build_ms:>19.2f} {churn:>6,} {churn_ms:>30.2f} {cached_ms:>23.2f}")
    print()
    peak_mib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(
        f"Memory of a {BIG_QUEUE:,}-job QueueState (jobs, index and groups): {memory_mib:.0f} MiB "
        f"(target < {MEMORY_TARGET_MIB} MiB); this process's peak RSS: {peak_mib:.0f} MiB"
    )
    ok = True
    for size, ms in worst.items():
        verdict = "OK" if ms < TARGET_MS else "OVER TARGET"
        ok = ok and ms < TARGET_MS
        print(f"{size:,}-job pass, slowest cluster state: {ms:.2f} ms vs target {TARGET_MS:.0f} ms -> {verdict}")
    ok = ok and memory_mib < MEMORY_TARGET_MIB
    return 0 if ok else 1


def rss_mib() -> float:
    """This process's resident memory now."""
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * resource.getpagesize() / 2**20


if __name__ == "__main__":
    sys.exit(main())
