"""The scheduler: a Mesos framework (pymesos) that matches offers to queued jobs.

pymesos callbacks only record what arrived (offers, rescinds, task updates, lost agents) and wake
the main loop. The loop does the work: it refreshes its in-memory queue from the database, runs
the pure matching functions over the held offers, writes the new executions in one transaction,
launches their tasks, records task updates (then sends `finish_executions` messages), kills
canceled / timed-out / vacated tasks, and writes its status report.

Run it with `python -m workers.scheduler`; MESOS_MASTER names the master (the local cluster by default).
"""

from __future__ import annotations

import getpass
import logging
import signal
import socket
import threading
import time
from collections import defaultdict
from datetime import datetime, timedelta, timezone
from typing import Any

from pymesos import MesosSchedulerDriver
from sqlalchemy import or_, select, update

from app.db import utcnow, with_retry
from app.mesos import RESOURCE_NAMES, sandbox_path
from app.models import Job, JobExecution, JobType, Node, Scheduler as SchedulerRow
from app.scheduling.matching import AgentResources, GroupedQueue, JobTypeLimits, QueuedJob, match
from app.scheduling.reasons import ClusterView, JobTypeView
from app.scheduling.queue_state import QueueState
from app.agent_files import AgentFile, AgentFilesError
from app.services import executions, nodes, workspaces
from app.settings import docker_network, docker_parameters, settings, shared_resource_limits
from workers.scheduler.callbacks import ScaleScheduler
from workers.scheduler.loop import IntervalJob, run_due
from workers.scheduler.offers import AgentPool, HeldOffer, HeldOffers, by_agent, offered_resources, to_decline
from workers.scheduler.report import Counters, node_report
from workers.scheduler.probes import PROBE_NEED, UNANSWERED_STATES, StorageProbes, is_probe, probe_command
from workers.scheduler.reasons import ReasonBook
from workers.scheduler.running import RunningTask, RunningTasks

log = logging.getLogger("scale.scheduler")


def required_shared_resources(job_type_row) -> tuple[str, ...]:
    """Names of the shared resources a job type's interface marks required."""
    entries = (job_type_row.interface or {}).get("shared_resources") or []
    return tuple(e["name"] for e in entries if isinstance(e, dict) and e.get("name") and e.get("required", True))


def framework_info(framework_id: str | None = None) -> dict:
    """FrameworkInfo as a real master needs it: a user that exists on the agents (an empty one fails every
    task on agents that switch users), checkpointing (tasks survive an agent restart), roles under MULTI_ROLE."""
    info = {
        "user": settings.FRAMEWORK_USER or getpass.getuser(),
        "name": settings.FRAMEWORK_NAME,
        "hostname": socket.gethostname(),
        "checkpoint": True,
        "failover_timeout": settings.FRAMEWORK_FAILOVER_TIMEOUT,
        "roles": [settings.FRAMEWORK_ROLE],
        "capabilities": [{"type": "MULTI_ROLE"}],
    }
    if settings.MESOS_PRINCIPAL:
        info["principal"] = settings.MESOS_PRINCIPAL
    if framework_id:
        info["id"] = {"value": framework_id}
    return info


def docker_container(spec: executions.ContainerSpec) -> dict:
    """ContainerInfo of a DOCKER task (include/mesos/v1/mesos.proto), network and parameters from settings."""
    return {
        "type": "DOCKER",
        "docker": {
            "image": spec.image,
            "network": docker_network(settings.DOCKER_NETWORK),
            "privileged": spec.privileged,
            "force_pull_image": settings.DOCKER_FORCE_PULL,
            "parameters": docker_parameters(settings.DOCKER_PARAMETERS),
        },
        "volumes": [{"container_path": path, "host_path": path, "mode": mode} for path, mode in spec.volumes],
    }


SYNC_OVERLAP = timedelta(seconds=2)  # re-read a little of the past: commits may land out of timestamp order


class SchedulerCore:
    def __init__(self, driver_factory=None) -> None:
        self.lock = threading.Lock()
        self.wake = threading.Event()
        self.queue_changed = threading.Event()  # set by the queue notification listener
        self.stopping = threading.Event()
        self.fatal_error: str | None = None
        self.restart_reason: str | None = None  # exit so that the supervisor starts a fresh subscription
        self.last_event = time.monotonic()  # anything from the master: heartbeats, offers, updates
        self.offers = HeldOffers()
        self.pending_updates: list[dict] = []
        self.lost_agents: list[str] = []
        self.running = RunningTasks()
        self.probes = StorageProbes()
        self.reasons = ReasonBook()
        self.queue = QueueState()
        self.counters = Counters()
        self.connected = False
        self.framework_id: str | None = None
        self.master_info: dict = {}
        self.needs_reconcile = False
        self.suppressed = False  # we asked the master to stop sending offers
        self.queue_grew = False
        self.last_revive = 0.0
        self.idle_pass: tuple | None = None  # (grouped queue, other inputs) of the last pass that placed nothing
        self.warnings: dict[str, dict] = {}
        # database-derived state, refreshed by sync()
        self.is_paused = False
        self.queue_mode = "FIFO"
        self.job_types: dict[int, Any] = {}  # id -> row(id, name, version, is_paused, max_scheduled)
        self.paused_nodes: set[int] = set()
        self.agent_nodes: dict[str, int] = {}
        self.agent_watermark: dict[str, dict[str, float]] = {}
        self.agent_hosts: dict[str, str] = {}
        self.agent_urls: dict[str, str] = {}
        self.agent_last_offer: dict[str, float] = {}
        self.queue_watermark: datetime | None = None
        self.last_full_sync = 0.0
        self.last_status = 0.0
        self.last_counters = (time.time(), Counters())
        self.driver: Any = None  # pymesos' MesosSchedulerDriver, or a test's fake
        self._driver_factory = driver_factory or self._make_driver
        # Each pass of the loop: the jobs that are due, in this order.
        self.jobs = [
            IntervalJob("sync", lambda: settings.SCHEDULER_SYNC_INTERVAL, self.sync_pass, self.queue_changed.is_set),
            IntervalJob(
                "reconcile",
                lambda: settings.SCHEDULER_RECONCILE_INTERVAL,
                self.reconcile,
                lambda: self.needs_reconcile,
                enabled=lambda: self.connected,
            ),
            IntervalJob("tasks and offers", lambda: 0.0, self.tasks_and_offers),
            IntervalJob("status", lambda: settings.SCHEDULER_STATUS_INTERVAL, self.write_status),
            IntervalJob("heartbeat watch", lambda: 1.0, self.watch_heartbeats, enabled=lambda: self.connected),
        ]

    # ------------------------------------------------------------ callbacks (pymesos thread)

    def on_event(self) -> None:
        """Any event from the master proves the subscription alive (heartbeats come when nothing else does)."""
        self.last_event = time.monotonic()

    def on_registered(self, framework_id: str, master_info: dict, reregistered: bool) -> None:
        self.on_event()
        log.info("%s with framework id %s", "re-registered" if reregistered else "registered", framework_id)
        with self.lock:
            self.connected = True
            self.framework_id = framework_id
            self.master_info = dict(master_info or {})
            self.needs_reconcile = True
            self.suppressed = False  # a new subscription is not suppressed
            self.warnings.pop("disconnected", None)
        self.wake.set()

    def on_disconnected(self) -> None:
        log.warning("disconnected from the master; pymesos re-subscribes with the same framework id")
        with self.lock:
            self.connected = False
        self.offers.clear()
        self.warn("disconnected", "Disconnected", "The scheduler lost its connection to the Mesos master")

    def on_offers(self, offers: list[dict]) -> None:
        self.on_event()
        added = self.offers.add(offers, time.time())
        with self.lock:
            self.counters.new_offers += added
        self.wake.set()

    def on_rescind(self, offer_id: str) -> None:
        self.on_event()
        self.offers.rescind(offer_id)

    def on_update(self, status: dict) -> None:
        self.on_event()
        with self.lock:
            self.pending_updates.append(status)
            self.counters.task_updates += 1
        self.wake.set()

    def on_executor_lost(self, executor_id: str, agent_id: str) -> None:
        log.warning("executor %s on agent %s lost; reconciling its tasks", executor_id, agent_id)
        self.on_event()
        with self.lock:
            self.needs_reconcile = True
        self.wake.set()

    def on_agent_lost(self, agent_id: str) -> None:
        self.on_event()
        log.warning("agent %s lost", agent_id)
        with self.lock:
            self.lost_agents.append(agent_id)
        self.offers.drop_agent(agent_id)
        self.probes.forget(agent_id)
        self.wake.set()

    def warn(self, name: str, title: str, description: str) -> None:
        now = utcnow().isoformat()
        with self.lock:
            entry = self.warnings.setdefault(
                name, {"name": name, "title": title, "description": description, "started": now}
            )
            entry["description"] = description
            entry["last_updated"] = now

    # ------------------------------------------------------------ database sync

    def sync(self, full: bool) -> None:
        """Refresh the in-memory view: scheduler row, job types, node pauses, newly queued jobs."""

        def read(session):
            row = session.get(SchedulerRow, 1)
            job_types = {
                r.id: r
                for r in session.execute(
                    select(
                        JobType.id,
                        JobType.name,
                        JobType.version,
                        JobType.is_paused,
                        JobType.max_scheduled,
                        JobType.interface,
                    )
                )
            }
            paused = nodes.paused_node_ids(session)
            cols = (
                Job.id,
                Job.job_type_id,
                Job.priority,
                Job.queued,
                Job.cpus_required,
                Job.mem_required,
                Job.disk_in_required,
                Job.disk_out_required,
                Job.last_status_change,
            )
            stmt = select(*cols).where(Job.status == "QUEUED")
            if not full and self.queue_watermark is not None:
                stmt = stmt.where(Job.last_status_change >= self.queue_watermark - SYNC_OVERLAP)
            queued = session.execute(stmt).all()
            return row.is_paused if row else False, row.queue_mode if row else "FIFO", job_types, paused, queued

        self.is_paused, self.queue_mode, self.job_types, self.paused_nodes, rows = with_retry(read)
        jobs = [
            QueuedJob(
                r.id,
                r.job_type_id,
                r.priority,
                r.queued.timestamp() if r.queued else 0.0,
                r.cpus_required,
                r.mem_required,
                r.disk_in_required + r.disk_out_required,
            )
            for r in rows
        ]
        before = len(self.queue)
        if full:
            self.queue.replace_all(jobs)
            self.last_full_sync = time.time()
        else:
            self.queue.add(jobs)
        self.queue_grew = self.queue_grew or len(self.queue) > before
        changes = [r.last_status_change for r in rows if r.last_status_change is not None]
        if changes:
            newest = max(changes)
            if self.queue_watermark is None or newest > self.queue_watermark:
                self.queue_watermark = newest
        elif full and self.queue_watermark is None:
            self.queue_watermark = utcnow()

    # ------------------------------------------------------------ the loop

    def schedule(self) -> None:
        """Match held offers to the queue, write executions, launch tasks, decline what is unused."""
        offers = self.offers.snapshot()
        if not self.connected:
            return
        if not offers:
            now = time.time()
            if len(self.queue) and self.reasons.due(now):  # nothing offered: still say why jobs wait
                limits = self.type_limits(self.running.totals()[1])
                self.explain(self.match(self.queue.grouped(self.queue_mode), [], limits, True), [], limits, now)
            return
        grouped = by_agent(offers)
        new_agents = [
            {"agent_id": a, "hostname": os[0].hostname, "port": os[0].port, "attributes": os[0].attributes}
            for a, os in grouped.items()
            if a not in self.agent_nodes
        ]
        if new_agents:
            self.agent_nodes.update(with_retry(lambda s: nodes.register_agents(s, new_agents)))
        running_by_agent, running_by_type = self.running.totals()
        offered_by_agent = offered_resources(offers)
        agents = []
        now = time.time()
        probing = self.launch_probes(grouped, offered_by_agent, now)  # their offers went to the probe
        for agent_id, agent_offers in grouped.items():
            offered = offered_by_agent[agent_id]
            running = running_by_agent[agent_id]
            seen_total = {k: offered[k] + running[k] for k in RESOURCE_NAMES}
            mark = self.agent_watermark.setdefault(agent_id, dict(seen_total))
            for k in RESOURCE_NAMES:
                mark[k] = max(mark[k], seen_total[k])
            self.agent_hosts[agent_id] = agent_offers[0].hostname
            self.agent_urls[agent_id] = agent_offers[0].agent_url
            self.agent_last_offer[agent_id] = now
            node_id = self.agent_nodes.get(agent_id)
            if agent_id in probing:
                continue
            agents.append(
                AgentResources(
                    agent_id=agent_id,
                    node_id=node_id,
                    hostname=agent_offers[0].hostname,
                    cpus=offered["cpus"],
                    mem=offered["mem"],
                    disk=offered["disk"],
                    is_paused=node_id in self.paused_nodes,
                    is_active=True,
                    total_cpus=mark["cpus"],
                    total_mem=mark["mem"],
                    total_disk=mark["disk"],
                    running_cpus=running["cpus"],
                    running_mem=running["mem"],
                    running_disk=running["disk"],
                )
            )
        limits = self.type_limits(running_by_type)
        queue = self.queue.grouped(self.queue_mode)
        # The same inputs as a pass that placed nothing give the same answer: skip it (a large
        # unschedulable queue must not burn a core). `queue` is the same object while the queue is unchanged.
        inputs = (
            frozenset(o.offer_id for o in offers),
            frozenset(self.running),
            self.is_paused,
            frozenset(self.paused_nodes),
            tuple(sorted((lim.job_type_id, lim.is_paused, lim.max_scheduled) for lim in limits.values())),
        )
        explaining = self.reasons.due(now)
        if not explaining and self.idle_pass is not None and self.idle_pass[0] is queue and self.idle_pass[1] == inputs:
            self.decline_stale(grouped, probing, now)
            return
        result = self.match(queue, agents, limits, explaining)
        if explaining:
            self.explain(result, agents, limits, now, probing=len(probing))
        for message in result.warnings:
            self.warn("resources", "Insufficient resources", message)
        launched_agents: set[str] = set(probing)
        if result.assignments:
            placements = [
                executions.Placement(
                    a.job_id,
                    a.agent_id,
                    self.agent_hosts.get(a.agent_id, ""),
                    self.agent_nodes.get(a.agent_id),
                    a.cpus,
                    a.mem,
                    a.disk,
                    self.agent_urls.get(a.agent_id, ""),
                )
                for a in result.assignments
            ]
            launches = with_retry(lambda s: executions.schedule_executions(s, placements, self.framework_id))
            queued = {p.job_id: self.queue.get(p.job_id) for p in placements}  # matched from the queue: all there
            job_types = {job_id: q.job_type_id for job_id, q in queued.items() if q is not None}
            # Jobs placed but not launched were no longer QUEUED (canceled, or launched before).
            self.queue.remove([p.job_id for p in placements])
            tasks_by_agent: dict[str, list[dict]] = defaultdict(list)
            pools: dict[str, AgentPool] = {}
            for spec in launches:
                pool = pools.get(spec.agent_id) or pools.setdefault(spec.agent_id, AgentPool(grouped[spec.agent_id]))
                resources = pool.take({"cpus": spec.cpus, "mem": spec.mem, "disk": spec.disk})
                tasks_by_agent[spec.agent_id].append(self.task_info(spec, resources))
                self.running[spec.task_id] = RunningTask(
                    spec.exe_id,
                    spec.job_id,
                    job_types[spec.job_id],
                    spec.agent_id,
                    spec.cpus,
                    spec.mem,
                    spec.disk,
                    time.time(),
                    spec.timeout,
                )
            for agent_id, tasks in tasks_by_agent.items():
                offer_ids = [{"value": o.offer_id} for o in grouped[agent_id]]
                self.send_launch(offer_ids, tasks)
                launched_agents.add(agent_id)
                self.counters.offers_launched += len(offer_ids)
                self.counters.tasks_launched += len(tasks)
                self.counters.jobs_launched += len(tasks)
        self.idle_pass = None if result.assignments else (queue, inputs)
        self.decline_stale(grouped, launched_agents, now)

    def type_limits(self, running_by_type: dict[int, int]) -> dict[int, JobTypeLimits]:
        return {
            jt.id: JobTypeLimits(
                jt.id, jt.is_paused, jt.max_scheduled, running_by_type.get(jt.id, 0), required_shared_resources(jt)
            )
            for jt in self.job_types.values()
        }

    @staticmethod
    def shared_left(limits: dict[int, JobTypeLimits]) -> dict[str, int]:
        """Per limited shared resource: its limit less the running jobs of the types that require it."""
        left = shared_resource_limits(settings.SHARED_RESOURCE_LIMITS)
        for lim in limits.values():
            for name in lim.shared_resources:
                if name in left:
                    left[name] -= lim.running
        return left

    def match(self, queue: GroupedQueue, agents: list[AgentResources], limits: dict, explaining: bool):
        return match(
            queue,
            agents,
            limits,
            scheduler_paused=self.is_paused,
            queue_mode=self.queue_mode,
            max_launch=settings.SCHEDULER_MAX_LAUNCH_PER_PASS,
            explain=settings.SCHEDULER_EXPLAIN_JOBS if explaining else 0,
            shared_left=self.shared_left(limits),
        )

    def explain(
        self, result, agents: list[AgentResources], limits: dict[int, JobTypeLimits], now: float, probing: int = 0
    ) -> None:
        """Record why the pass left jobs queued (workers/scheduler/reasons.py); writes only what changed."""
        types = {
            jt.id: JobTypeView(
                f"{jt.name} {jt.version}", jt.max_scheduled, limits[jt.id].running, limits[jt.id].shared_resources
            )
            for jt in self.job_types.values()
        }
        shared_limits = shared_resource_limits(settings.SHARED_RESOURCE_LIMITS)
        cluster = ClusterView.of(agents, settings.SCHEDULER_MAX_LAUNCH_PER_PASS, probing, shared_limits)
        self.reasons.explain(result.reasons, self.queue.get, types, cluster, now)
        if self.reasons.pending() or now >= self.reasons.next_cleanup:
            try:
                with_retry(lambda s: self.reasons.write(s, now))
            except Exception:  # reasons are advice: a failed write must not stop scheduling; the next one retries
                log.exception("could not record why queued jobs wait")
                return
            self.reasons.written_now(now)

    def launch_probes(self, grouped: dict[str, list[HeldOffer]], offered: dict, now: float) -> set[str]:
        """Probe the shared storage of agents not probed yet (workers/scheduler/probes.py); their ids."""
        wanted = self.probes.wanted(list(grouped), now) if settings.SCHEDULER_STORAGE_PROBES else []
        wanted = [a for a in wanted if all(offered[a][k] >= v for k, v in PROBE_NEED.items())]
        if not wanted:
            return set()
        settings.executions_dir.mkdir(parents=True, exist_ok=True)  # this host's pre steps write there anyway
        paths = with_retry(workspaces.shared_paths)
        for agent_id in wanted:
            task = {
                "name": "Scale shared storage probe",
                "task_id": {"value": self.probes.launched(agent_id, now)},
                "agent_id": {"value": agent_id},
                "resources": AgentPool(grouped[agent_id]).take(PROBE_NEED),
                "command": probe_command(paths),
            }
            self.send_launch([{"value": o.offer_id} for o in grouped[agent_id]], [task])
        return set(wanted)

    def probe_ended(self, update: dict) -> None:
        """A probe's update: its answer goes into the node's report and the warnings."""
        task_id = update["task_id"]["value"]
        detail = update.get("message")
        if update["state"] != "TASK_FINISHED" and update["state"] not in UNANSWERED_STATES:
            detail = self.probe_stderr(update) or detail  # ls says which path it cannot see
        settled = self.probes.on_end(task_id, update["state"], detail)
        if settled is not None and settled[1] is not None:
            agent_id, error = settled
            log.warning(
                "agent %s (%s) cannot see the shared storage: %s", agent_id, self.agent_hosts.get(agent_id), error
            )
            nodes = "; ".join(f"{self.agent_hosts.get(a, a)}: {e}" for a, e in sorted(self.probes.failing().items()))
            self.warn("shared-storage", "Shared storage missing", f"Nodes that cannot see what jobs need: {nodes}")

    def probe_stderr(self, update: dict) -> str | None:
        url = self.agent_urls.get(update.get("agent_id", {}).get("value", ""))
        if not url or not self.framework_id:
            return None
        stderr = AgentFile(url, f"{sandbox_path(self.framework_id, update['task_id']['value'])}/stderr")
        try:
            text = stderr.tail(2000)[0].decode("utf-8", "replace").strip()
        except AgentFilesError:
            return None
        return text or None

    def send_launch(self, offer_ids: list[dict], tasks: list[dict]) -> None:
        """ACCEPT the offers with these tasks. A launch that does not reach the master (pymesos drops it
        silently when disconnected, and raises on a refused or broken request) is recorded as TASK_DROPPED
        at once, so its jobs are requeued without spending a try instead of waiting for a reconcile."""
        problem = None
        if not getattr(self.driver, "connected", True):
            problem = "the scheduler is not connected to the master"
        else:
            try:
                self.driver.launchTasks(offer_ids, tasks, filters={"refuse_seconds": 0.0})
                return
            except Exception as exc:  # noqa: BLE001 - any failure to send means the same: not launched
                problem = f"{type(exc).__name__}: {exc}"[:500]
        log.warning("launch of %d task(s) not sent (%s): requeueing them", len(tasks), problem)
        dropped = [
            {"task_id": t["task_id"], "state": "TASK_DROPPED", "message": f"Launch not sent: {problem}"} for t in tasks
        ]
        with self.lock:
            self.pending_updates.extend(dropped)
        self.wake.set()

    def decline_stale(self, grouped: dict[str, list[HeldOffer]], launched_agents: set[str], now: float) -> None:
        """Forget offers used by launches; decline those held longer than SCHEDULER_OFFER_HOLD."""
        decline = to_decline(grouped, launched_agents, now, settings.SCHEDULER_OFFER_HOLD)
        self.offers.forget([o for agent_id in launched_agents for o in grouped[agent_id]] + decline)
        if decline:
            self.driver.declineOffer(
                [{"value": o.offer_id} for o in decline], filters={"refuse_seconds": settings.SCHEDULER_DECLINE_REFUSE}
            )

    @staticmethod
    def task_info(spec: executions.LaunchSpec, resources: list[dict]) -> dict:
        """The TaskInfo of a launch; `resources` are cut from the offer entries (AgentPool.take).

        A command task names its executable in `value` and its whole argv in `arguments`. A DOCKER task
        sends the arguments only: the Docker containerizer runs `docker run <image> <arguments...>`."""
        command: dict[str, Any] = {
            "shell": False,
            "value": spec.argv[0],
            "arguments": spec.argv,
            "environment": {"variables": [{"name": k, "value": v} for k, v in spec.environment.items()]},
        }
        info: dict[str, Any] = {
            "name": spec.name,
            "task_id": {"value": spec.task_id},
            "agent_id": {"value": spec.agent_id},
            "resources": resources,
            "command": command,
        }
        if spec.container is not None:
            del command["value"]
            info["container"] = docker_container(spec.container)
        return info

    def process_updates(self) -> None:
        with self.lock:
            updates, self.pending_updates = self.pending_updates, []
            lost, self.lost_agents = self.lost_agents, []
        for agent_id in lost:
            # Tasks of a lost agent that the master did not report: fail them as lost.
            for task_id in self.running.on_agent(agent_id):
                updates.append(
                    {
                        "task_id": {"value": task_id},
                        "state": "TASK_LOST",
                        "message": "agent removed",
                        "agent_id": {"value": agent_id},
                    }
                )
            self.agent_last_offer.pop(agent_id, None)
        for u in [u for u in updates if is_probe(u["task_id"]["value"])]:
            if u["state"] in executions.TERMINAL_TASK_STATES:
                self.probe_ended(u)
            if u.get("uuid") and self.driver is not None:
                self.driver.acknowledgeStatusUpdate(u)
        updates = [u for u in updates if not is_probe(u["task_id"]["value"])]
        if not updates:
            return
        records = [
            {
                "task_id": u["task_id"]["value"],
                "state": u["state"],
                "message": u.get("message"),
                "reason": u.get("reason"),
                "source": u.get("source"),
                "container_id": ((u.get("container_status") or {}).get("container_id") or {}).get("value"),
                "timestamp": u.get("timestamp"),
            }
            for u in updates
        ]
        alive: list[str] = []

        def record(session):
            alive.clear()  # with_retry may run this again
            return executions.record_task_updates(session, records, alive)

        ended = with_retry(record)
        for task_id in alive:
            log.warning("task %s is running although its execution ended: killing it", task_id)
            self.driver.killTask({"value": task_id})
            self.counters.orphan_tasks_killed += 1
        for r in records:
            if r["state"] in executions.TERMINAL_TASK_STATES:
                self.running.pop(r["task_id"], None)
        if ended:  # before the acknowledgements: finishing is on the critical path of every recipe step
            from tasks.celery_app import send
            from tasks.jobs import finish_executions

            send(finish_executions, ended)
            self.counters.jobs_finished += len(ended)
        for u in updates:
            if u.get("uuid") and self.driver is not None:
                self.driver.acknowledgeStatusUpdate(u)

    def kill_and_expire(self) -> None:
        """Kill tasks whose execution was canceled, vacated or timed out."""
        if not self.running:
            return
        now = time.time()
        expired = self.running.timed_out(now)

        def read(session):
            if expired:
                session.execute(
                    update(JobExecution)
                    .where(JobExecution.id.in_(expired), JobExecution.kill_reason.is_(None))
                    .values(kill_reason="timeout")
                )
            return list(
                session.scalars(
                    select(JobExecution.task_id).where(
                        JobExecution.kill_reason.is_not(None), JobExecution.task_state.is_(None)
                    )
                )
            )

        to_kill = with_retry(read)
        for task_id in to_kill:
            t = self.running.get(task_id)
            if t is None or now - t.kill_sent < 10:
                continue
            t.kill_sent = now
            log.info("killing task %s", task_id)
            self.driver.killTask({"value": task_id})

    def load_running(self) -> None:
        """After (re)registration and every reconcile interval: every RUNNING execution joins the running set
        and is reconciled explicitly; an implicit reconciliation then has the master report every task it
        knows, so a task we no longer count as running (reported LOST, then back) is found and killed."""

        def read(session):
            return session.execute(
                select(
                    JobExecution.id,
                    JobExecution.job_id,
                    JobExecution.task_id,
                    JobExecution.started,
                    JobExecution.timeout,
                    JobExecution.cpus_scheduled,
                    JobExecution.mem_scheduled,
                    JobExecution.disk_total_scheduled,
                    Job.job_type_id,
                    JobExecution.node_id,
                )
                .join(Job, Job.id == JobExecution.job_id)
                # Every execution whose task may still be alive: running ones, and canceled or vacated
                # ones whose task has not reported its end (it must still be killed).
                .where(
                    JobExecution.task_state.is_(None),
                    JobExecution.task_id.is_not(None),
                    or_(JobExecution.status == "RUNNING", JobExecution.kill_reason.is_not(None)),
                )
            ).all()

        rows = with_retry(read)
        node_agent = {v: k for k, v in self.agent_nodes.items()}
        self.running.recover(rows, node_agent)
        tasks = [{"task_id": {"value": tid}} for tid in self.running]
        if tasks:
            self.driver.reconcileTasks(tasks)
        self.driver.reconcileTasks([])

    def persist_framework_id(self) -> None:
        def write(session):
            row = session.get(SchedulerRow, 1)
            if row is not None and row.framework_id != self.framework_id:
                row.framework_id = self.framework_id

        with_retry(write)

    def write_status(self) -> None:
        now = time.time()
        then, previous = self.last_counters
        current = Counters(**self.counters.as_dict())
        rates = current.rates(previous, now - then)
        self.last_counters = (now, current)
        with self.lock:
            warnings = list(self.warnings.values())
        offered_by_agent = offered_resources(self.offers.snapshot())
        running_by_agent, _ = self.running.totals()
        node_reports = [
            node_report(
                agent_id=agent_id,
                hostname=self.agent_hosts.get(agent_id),
                node_id=self.agent_nodes.get(agent_id),
                total=total,
                offered=offered_by_agent[agent_id],
                running=running_by_agent[agent_id],
                last_offer=self.agent_last_offer.get(agent_id),
                now=now,
                offline_after=settings.NODE_OFFLINE_AFTER,
                errors=self.probes.errors(agent_id),
            )
            for agent_id, total in self.agent_watermark.items()
        ]
        host, _, port = settings.MESOS_MASTER.rpartition(":")  # zk://...: the leader is known once subscribed
        status = {
            "state": "PAUSED" if self.is_paused else "READY",
            "hostname": socket.gethostname(),
            "framework_id": self.framework_id,
            "master": {
                "hostname": self.master_info.get("hostname", host),
                "port": int(self.master_info["port"])
                if "port" in self.master_info
                else int(port)
                if port.isdigit()
                else None,
                "is_online": self.connected,
            },
            "metrics": {**rates, **current.as_dict()},
            "queue_depth": len(self.queue),
            "running_tasks": len(self.running),
            "warnings": warnings,
            "nodes": node_reports,
        }

        seen = [
            {"id": self.agent_nodes[a], "last_offer": datetime.fromtimestamp(t, timezone.utc)}
            for a, t in self.agent_last_offer.items()
            if a in self.agent_nodes and t > self.last_status
        ]

        def write(session):
            if seen:
                session.execute(update(Node), seen)
            row = session.get(SchedulerRow, 1)
            if row is None:
                row = SchedulerRow(id=1)
                session.add(row)
            row.status = status
            row.status_updated = utcnow()
            if self.framework_id:
                row.framework_id = self.framework_id
            row.master_hostname = status["master"]["hostname"]
            row.master_port = status["master"]["port"]

        with_retry(write)
        self.last_status = now

    def step(self) -> None:
        run_due(self.jobs, time.time())

    # Offers and task updates wake the loop often; the database is read when jobs were queued, or each interval.
    def sync_pass(self) -> None:
        self.queue_changed.clear()
        self.sync(full=time.time() - self.last_full_sync >= settings.SCHEDULER_FULL_SYNC_INTERVAL)

    def reconcile(self) -> None:
        if self.needs_reconcile:  # just (re)registered
            self.needs_reconcile = False
            self.persist_framework_id()  # a restart must re-subscribe as this framework to keep its tasks
        self.load_running()

    def tasks_and_offers(self) -> None:
        self.process_updates()
        if self.connected:
            self.kill_and_expire()
            self.schedule()
            self.ask_for_offers()

    def ask_for_offers(self) -> None:
        """SUPPRESS while nothing is queued (no offers hoarded, none sent); REVIVE when jobs arrive, and again
        every SCHEDULER_REVIVE_INTERVAL while jobs wait without an offer (a lost REVIVE, decline filters)."""
        now = time.time()
        if not len(self.queue):
            if not self.suppressed:
                self.driver.suppressOffers()
                self.suppressed = True
                held = self.offers.snapshot()
                self.offers.forget(held)
                if held:
                    self.driver.declineOffer([{"value": o.offer_id} for o in held], filters={"refuse_seconds": 0.0})
            self.queue_grew = False
            return
        if len(self.offers):
            self.queue_grew = False  # offers in hand: the new jobs get them
            if not self.suppressed:
                return
        # Jobs waiting with no offer: ask again soon after new jobs came, and now and then in any case.
        wait = 1.0 if self.queue_grew else settings.SCHEDULER_REVIVE_INTERVAL
        if self.suppressed or now - self.last_revive >= wait:
            self.driver.reviveOffers()
            self.suppressed = False
            self.queue_grew = False
            self.last_revive = now

    # ------------------------------------------------------------ process

    def _make_driver(self):
        def read(session):
            row = session.get(SchedulerRow, 1)
            return row.framework_id if row else None

        framework = framework_info(with_retry(read))
        return MesosSchedulerDriver(
            ScaleScheduler(self),
            framework,
            settings.MESOS_MASTER,
            use_addict=False,
            implicit_acknowledgements=False,
            # HTTP basic on every call, as a master with --authenticate_http_frameworks requires
            principal=settings.MESOS_PRINCIPAL or None,
            secret=settings.MESOS_SECRET or None,
        )

    def listen_for_queue_changes(self) -> None:
        """Wake the loop when someone publishes that jobs were queued (see tasks.celery_app)."""
        import redis

        from tasks.celery_app import QUEUE_CHANNEL

        while not self.stopping.is_set():
            try:
                pubsub = redis.Redis.from_url(settings.REDIS_URL, socket_connect_timeout=2).pubsub(
                    ignore_subscribe_messages=True
                )
                pubsub.subscribe(QUEUE_CHANNEL)
                while not self.stopping.is_set():
                    if pubsub.get_message(timeout=1.0) is not None:
                        self.queue_changed.set()
                        self.wake.set()
                pubsub.close()
            except Exception as exc:  # Redis away: the database poll still finds new jobs
                log.debug("queue notifications unavailable: %s", exc)
                self.stopping.wait(5)

    def run(self) -> None:
        threading.Thread(target=self.listen_for_queue_changes, name="queue-listener", daemon=True).start()
        self.driver = self._driver_factory()
        self.driver.start()
        self.sync(full=True)
        interval = settings.SCHEDULER_SYNC_INTERVAL
        try:
            while not self.stopping.is_set():
                try:
                    self.step()
                except Exception:  # one bad pass must not stop scheduling
                    log.exception("scheduling pass failed")
                    time.sleep(1)
                self.wake.wait(interval)
                self.wake.clear()
        finally:
            self.driver.stop(failover=True)

    def stop(self) -> None:
        self.stopping.set()
        self.wake.set()

    def watch_heartbeats(self) -> None:
        """A subscription that sends nothing, not even heartbeats, is dead though its socket looks open
        (a master behind a broken network path): pymesos would wait on it forever. Exit instead; the
        supervisor restarts the scheduler, which resubscribes with its framework id and keeps its tasks."""
        silent = time.monotonic() - self.last_event
        if silent > settings.SCHEDULER_HEARTBEAT_TIMEOUT:
            self.restart_reason = f"no event from the master for {silent:.0f} s (heartbeats stopped)"
            log.error("%s: exiting so that a restart resubscribes", self.restart_reason)
            self.stop()

    def fail(self, reason: str) -> None:
        """The master refused this framework for good (removed, or failed over to another scheduler):
        resubscribing with the same id would loop, so stop and let an operator decide."""
        log.critical("stopping: the Mesos master reported %r; this framework cannot continue", reason)
        self.fatal_error = reason
        self.stop()


def main() -> None:
    settings.check()
    logging.basicConfig(level=settings.LOG_LEVEL, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    core = SchedulerCore()
    signal.signal(signal.SIGTERM, lambda *_: core.stop())
    signal.signal(signal.SIGINT, lambda *_: core.stop())
    log.info("scheduler starting, master %s", settings.MESOS_MASTER)
    core.run()
    if core.fatal_error:
        raise SystemExit(f"scheduler stopped: {core.fatal_error}")
    if core.restart_reason:
        raise SystemExit(f"scheduler exiting to resubscribe: {core.restart_reason}")
