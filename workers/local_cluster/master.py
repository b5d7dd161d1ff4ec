"""The master: agents, frameworks, offers and tasks, the scheduler calls that change them, and the
reliable delivery of status updates.

Everything here runs under `Master.lock` and does no I/O of its own: processes are started and
signalled by the task executor (the `Runner`), what must survive a restart goes to the checkpoint, and
events are queued on each framework's `Stream` for the HTTP layer to write.
"""

from __future__ import annotations

import base64
import collections
import itertools
import logging
import pwd
import threading
import time
import uuid
from typing import Any, Protocol

from app.mesos import RESOURCE_NAMES, TERMINAL_TASK_STATES
from workers.local_cluster import proto
from workers.local_cluster.checkpoint import Checkpoint
from workers.local_cluster.model import Agent, Framework, Offer, Stream, Task
from workers.local_cluster.resources import (
    UNRESERVED,
    add,
    allocatable,
    by_name,
    contains,
    describe,
    for_role,
    id_problem,
    indivisible_problems,
    parse_resources,
    ports_text,
    reserved_by_role,
    subtract,
)

log = logging.getLogger(__name__)

MESOS_VERSION = "1.11.0"
DEFAULT_REFUSE_SECONDS = 5.0  # Mesos' Filters.refuse_seconds default
MAX_COMPLETED_TASKS = 10000
SOURCE_MASTER = "SOURCE_MASTER"
SOURCE_EXECUTOR = "SOURCE_EXECUTOR"
SOURCE_AGENT = "SOURCE_AGENT"

# Calls the master accepts from a subscribed framework and answers 202 without acting on them.
IGNORED_CALLS = frozenset(
    {
        "SHUTDOWN",
        "MESSAGE",
        "REQUEST",
        "ACCEPT_INVERSE_OFFERS",
        "DECLINE_INVERSE_OFFERS",
        "ACKNOWLEDGE_OPERATION_STATUS",
        "RECONCILE_OPERATIONS",
        "UPDATE_FRAMEWORK",
    }
)


class Runner(Protocol):
    """What the master asks of the agents' task executor."""

    def launch(self, task: Task) -> None: ...

    def kill(self, task: Task, grace: float) -> None: ...

    def kill_now(self, task: Task) -> None: ...


class CallRefused(Exception):
    """A scheduler call the master answers with an error status and this message."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


def _user_exists(user: str) -> bool:
    try:
        pwd.getpwnam(user)
    except KeyError:
        return False
    return bool(user)


def _value(field: Any) -> str:
    """The string of a Mesos `{"value": ...}` id field; "" when it is missing."""
    value = field.get("value") if isinstance(field, dict) else None
    return value if isinstance(value, str) else ""


def _refuse_seconds(filters: dict[str, Any] | None) -> float:
    try:
        return float((filters or {}).get("refuse_seconds", DEFAULT_REFUSE_SECONDS))
    except (TypeError, ValueError):
        return DEFAULT_REFUSE_SECONDS


def _grace(policy: dict[str, Any] | None) -> float | None:
    try:
        ns = ((policy or {}).get("grace_period") or {}).get("nanoseconds")
        return None if ns is None else max(0.0, int(ns) / 1e9)
    except (TypeError, ValueError):
        return None


class Master:
    def __init__(
        self,
        *,
        master_id: str,
        hostname: str,
        checkpoint: Checkpoint,
        heartbeat_interval: float,
        retry_interval: float,
        kill_grace: float,
    ) -> None:
        self.id = master_id
        self.hostname = hostname
        self.checkpoint = checkpoint
        self.heartbeat_interval = heartbeat_interval
        self.retry_interval = retry_interval
        self.kill_grace = kill_grace
        self.runner: Runner | None = None  # set by the cluster once the executor exists
        self.allow_shell = False  # `shell: true` tasks (LocalCluster sets LOCAL_CLUSTER_ALLOW_SHELL)
        self.advertised_ip = "127.0.0.1"
        self.port = 0
        self.started_at = 0.0
        self.lock = threading.RLock()
        self.wake = threading.Event()  # the allocator runs at once: resources were freed or added
        self.stopping = threading.Event()
        self.agents: dict[str, Agent] = {}
        self.frameworks: dict[str, Framework] = {}
        self.offers: dict[str, Offer] = {}
        self.tasks: dict[str, Task] = {}
        self.completed: collections.OrderedDict[str, Task] = collections.OrderedDict()
        self._framework_numbers = itertools.count()
        self._handlers = {
            "TEARDOWN": self._on_teardown,
            "ACCEPT": self._on_accept,
            "DECLINE": self._on_decline,
            "REVIVE": self._on_revive,
            "SUPPRESS": self._on_suppress,
            "KILL": self._on_kill,
            "ACKNOWLEDGE": self._on_acknowledge,
            "RECONCILE": self._on_reconcile,
        }

    @property
    def _runner(self) -> Runner:
        assert self.runner is not None, "the master has no task executor"
        return self.runner

    @property
    def address(self) -> str:
        return f"{self.advertised_ip}:{self.port}"

    # ----------------------------------------------------------------- agents

    def add_agent(self, agent: Agent) -> None:
        with self.lock:
            self.agents[agent.id] = agent
        self.wake.set()

    def remove_agent(self, agent_id: str) -> tuple[Agent, list[str]]:
        """Remove an agent as if it were lost: rescind its offers, kill its tasks and report them TASK_LOST."""
        lost = []
        with self.lock:
            agent = self.agents.pop(agent_id, None)
            if agent is None:
                raise KeyError(agent_id)
            self._rescind_offers_of(agent)
            for task in self._live_tasks_on(agent):
                self._runner.kill_now(task)
                message = f"Agent {agent_id} ({agent.hostname}) removed"
                self.update(task, "TASK_LOST", message, SOURCE_MASTER, "REASON_AGENT_REMOVED")
                lost.append(task.id)
            for fw in self.frameworks.values():
                if fw.stream is not None:
                    fw.stream.send({"type": "FAILURE", "failure": {"agent_id": {"value": agent_id}}})
        return agent, lost

    def _rescind_offers_of(self, agent: Agent) -> None:
        for offer in [o for o in self.offers.values() if o.agent is agent]:
            del self.offers[offer.id]
            agent.offered = subtract(agent.offered, offer.resources)
            fw = self.frameworks.get(offer.framework_id)
            if fw is not None and fw.stream is not None:
                fw.stream.send({"type": "RESCIND", "rescind": {"offer_id": {"value": offer.id}}})

    def _live_tasks_on(self, agent: Agent) -> list[Task]:
        return [t for t in self.tasks.values() if t.agent is agent and t.state not in TERMINAL_TASK_STATES]

    def partition_agent(self, agent_id: str) -> list[str]:
        """The agent stops answering (a network partition) while its tasks go on running. As a master tells
        frameworks that are not PARTITION_AWARE, they are reported TASK_LOST; their own updates wait for
        the agent to come back. Returns the ids of the tasks reported lost."""
        with self.lock:
            agent = self.agents[agent_id]
            agent.unreachable = True
            self._rescind_offers_of(agent)
            lost = []
            for task in self._live_tasks_on(agent):
                fw = self.frameworks.get(task.framework_id)
                if fw is not None:
                    message = f"Agent {agent_id} ({agent.hostname}) is unreachable"
                    self._send_once(fw, task.id, agent_id, "TASK_LOST", "REASON_AGENT_DISCONNECTED", message)
                lost.append(task.id)
            return lost

    def heal_agent(self, agent_id: str) -> None:
        """The partitioned agent reregisters: its tasks, still running, answer reconciliation again and
        their held updates are delivered."""
        with self.lock:
            self.agents[agent_id].unreachable = False
            self.wake.set()

    # ----------------------------------------------------------------- SUBSCRIBE and the event stream

    def subscribe(self, call: dict[str, Any]) -> Stream:
        """Register or take over a framework; the new stream already holds SUBSCRIBED and pending updates."""
        if self.stopping.is_set():
            raise CallRefused(503, "Master is stopping")
        subscribe = call.get("subscribe") or {}
        info = dict(subscribe.get("framework_info") or {})
        if not isinstance(info.get("user"), str):  # a required field of FrameworkInfo
            raise CallRefused(400, "Failed to validate scheduler::Call: Expecting 'framework_info.user' to be present")
        framework_id = (call.get("framework_id") or {}).get("value") or (info.get("id") or {}).get("value")
        with self.lock:
            if not framework_id:
                framework_id = f"{self.id}-{next(self._framework_numbers):04d}"
            info["id"] = {"value": framework_id}
            fw = self.frameworks.get(framework_id)
            if fw is None:
                fw = self.frameworks[framework_id] = Framework(framework_id, info)
                log.info("framework %s (%s) registered", framework_id, info.get("name"))
            else:
                if fw.stream is not None:
                    fw.stream.send({"type": "ERROR", "error": {"message": "Framework failed over"}})
                    fw.stream.close()
                log.info("framework %s (%s) re-subscribed", framework_id, info.get("name"))
                fw.info = info
            self.checkpoint.save_framework(framework_id, info)
            self._recover_offers(fw)
            fw.filters = []
            fw.suppressed = bool(subscribe.get("suppressed_roles"))
            fw.disconnected_at = None
            stream = fw.stream = Stream(framework_id)
            subscribed = {
                "framework_id": {"value": framework_id},
                "heartbeat_interval_seconds": self.heartbeat_interval,
                "master_info": self.master_info(),
            }
            stream.send({"type": "SUBSCRIBED", "subscribed": subscribed})
            now = time.monotonic()
            for task in self.tasks.values():
                if task.framework_id == framework_id and task.pending:
                    stream.send({"type": "UPDATE", "update": {"status": task.pending[0]}})
                    task.last_sent = now
        self.wake.set()
        return stream

    def stream_ended(self, stream: Stream) -> None:
        with self.lock:
            stream.closed = True
            fw = self.frameworks.get(stream.framework_id)
            if fw is None or fw.stream is not stream:
                return
            fw.stream = None
            fw.disconnected_at = time.monotonic()
            self._recover_offers(fw)
            log.info("framework %s disconnected; its tasks are kept for %.0f s", fw.id, fw.failover_timeout)

    def master_info(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "ip": 0,
            "port": self.port,
            "hostname": self.hostname,
            "version": MESOS_VERSION,
            "address": {"hostname": self.hostname, "ip": self.advertised_ip, "port": self.port},
        }

    # ----------------------------------------------------------------- the other calls

    def call(self, call: dict[str, Any], stream_id: str | None) -> None:
        """Act on a call other than SUBSCRIBE; raise CallRefused for one the master answers 400 or 503."""
        if self.stopping.is_set():
            raise CallRefused(503, "Master is stopping")
        kind = call.get("type")
        framework_id = (call.get("framework_id") or {}).get("value")
        with self.lock:
            fw = self.frameworks.get(framework_id) if framework_id else None
            if fw is None:
                error = f"Framework {framework_id!r} is not subscribed"
            elif not stream_id:
                error = "All non-subscribe calls should include the 'Mesos-Stream-Id' header"
            elif fw.stream is None or fw.stream.id != stream_id:
                error = f"The stream ID {stream_id!r} included in this request didn't match the stream ID of framework {framework_id}"
            elif kind not in self._handlers and kind not in IGNORED_CALLS:
                error = f"Unsupported call type {kind!r}"
            else:
                handler = self._handlers.get(kind)  # type: ignore[arg-type]
                if handler is None:
                    log.info("ignoring %s call from framework %s", kind, framework_id)
                else:
                    log.debug("call %s from framework %s", kind, framework_id)
                    handler(fw, call)
                return
        log.warning("rejected %s call: %s", kind, error)
        raise CallRefused(400, error)

    def _recover_offers(self, fw: Framework) -> None:
        for offer in [o for o in self.offers.values() if o.framework_id == fw.id]:
            self.release_offer(offer)

    def release_offer(self, offer: Offer) -> None:
        self.offers.pop(offer.id, None)
        offer.agent.offered = subtract(offer.agent.offered, offer.resources)

    def _on_teardown(self, fw: Framework, call: dict[str, Any]) -> None:
        log.info("framework %s torn down", fw.id)
        self.remove_framework(fw)

    def remove_framework(self, fw: Framework) -> None:
        self._recover_offers(fw)
        self.frameworks.pop(fw.id, None)
        self.checkpoint.remove_framework(fw.id)
        if fw.stream is not None:
            fw.stream.close()
            fw.stream = None
        for task in [t for t in self.tasks.values() if t.framework_id == fw.id]:
            if task.state in TERMINAL_TASK_STATES:
                self.complete(task)
            elif task.pid is not None:
                self._runner.kill(task, self.kill_grace)
            else:
                task.kill_requested = True  # the launcher will drop it
        self.wake.set()

    def _on_decline(self, fw: Framework, call: dict[str, Any]) -> None:
        decline = call.get("decline") or {}
        refuse = _refuse_seconds(decline.get("filters"))
        now = time.monotonic()
        for oid in decline.get("offer_ids") or []:
            offer = self.offers.get(_value(oid))
            if offer is None or offer.framework_id != fw.id:
                continue
            self.release_offer(offer)
            if refuse > 0:
                fw.filters.append((offer.agent.id, dict(offer.resources), now + refuse))

    def _on_revive(self, fw: Framework, call: dict[str, Any]) -> None:
        fw.filters = []
        fw.suppressed = False
        self.wake.set()

    def _on_suppress(self, fw: Framework, call: dict[str, Any]) -> None:
        fw.suppressed = True

    def _on_accept(self, fw: Framework, call: dict[str, Any]) -> None:
        accept = call.get("accept") or {}
        offers: list[Offer] = []
        error = None
        for oid in accept.get("offer_ids") or []:
            value = _value(oid)
            offer = self.offers.get(value)
            if offer is None or offer.framework_id != fw.id:
                error = f"Offer {value} is no longer valid"
            else:
                offers.append(offer)
        if not offers and not error:
            error = "No offers given"
        if offers and len({o.agent.id for o in offers}) > 1:
            error = "Aggregated offers must belong to one single agent"
        elif offers and len({o.role for o in offers}) > 1:
            error = "Aggregated offers must be allocated to the same role"
        task_infos: list[dict[str, Any]] = []
        grouped: list[dict[str, Any]] = []
        for op in accept.get("operations") or []:
            if op.get("type") == "LAUNCH":
                task_infos.extend((op.get("launch") or {}).get("task_infos") or [])
            elif op.get("type") == "LAUNCH_GROUP":
                grouped.extend(((op.get("launch_group") or {}).get("task_group") or {}).get("tasks") or [])
            else:
                log.warning("ignoring unsupported %s operation from framework %s", op.get("type"), fw.id)
        self._parse_task_infos(task_infos + grouped)  # first: a master never acts on a call it cannot parse
        for offer in offers:
            self.release_offer(offer)
        for ti in grouped:
            message = "LAUNCH_GROUP is not supported by the local cluster"
            self._reject(fw, ti, None, "TASK_ERROR", "REASON_TASK_INVALID", message)
        if error:
            for ti in task_infos:
                message = f"Task launched with invalid offers: {error}"
                self._reject(fw, ti, None, "TASK_LOST", "REASON_INVALID_OFFERS", message)
            return
        agent = offers[0].agent
        pool: dict[str, float] = {}
        for offer in offers:
            pool = add(pool, offer.resources)
        for ti in task_infos:
            pool = self._launch(fw, agent, ti, pool, offers[0].role)
        refuse = _refuse_seconds(accept.get("filters"))
        if refuse > 0 and allocatable(pool):
            fw.filters.append((agent.id, pool, time.monotonic() + refuse))

    @staticmethod
    def _parse_task_infos(task_infos: list[dict[str, Any]]) -> None:
        """Refuse the call (400) as a master whose JSON-to-protobuf parse fails; note what it would drop."""
        errors = []
        for ti in task_infos:
            parsed = proto.parse("TaskInfo", ti)
            errors += parsed.errors
            if parsed.ignored:
                log.warning("a Mesos master ignores these TaskInfo fields or values: %s", ", ".join(parsed.ignored))
        if errors:
            raise CallRefused(400, "Failed to parse body into Call protobuf: " + "; ".join(errors))

    def _launch(
        self, fw: Framework, agent: Agent, ti: dict[str, Any], pool: dict[str, float], role: str | None
    ) -> dict[str, float]:
        """Validate one TaskInfo against the remaining offered resources; queue it; return what is left."""
        task_id = (ti.get("task_id") or {}).get("value")
        problem = id_problem(task_id)
        if problem:
            self._reject(fw, ti, agent, "TASK_ERROR", "REASON_TASK_INVALID", f"Task has invalid ID: {problem}")
            return pool
        if task_id in self.tasks:
            self._reject(fw, ti, agent, "TASK_ERROR", "REASON_TASK_INVALID", f"Task has duplicate ID: {task_id}")
            return pool
        agent_id = (ti.get("agent_id") or ti.get("slave_id") or {}).get("value")
        resources, problems = parse_resources(ti.get("resources") or [], role)
        command = ti.get("command")
        if agent_id != agent.id:
            problems.append(f"Task uses agent {agent_id} but the offers are from agent {agent.id}")
        problems += proto.task_problems(ti)
        if "executor" in ti:
            problems.append("Custom executors are not supported by the local cluster (use a command task)")
        elif isinstance(command, dict) and command.get("shell", True) and not self.allow_shell:
            problems.append("Shell commands are refused (send shell: false with arguments; LOCAL_CLUSTER_ALLOW_SHELL)")
        elif not isinstance(command, dict) or not (command.get("value") or command.get("arguments")):
            problems.append("Task has no command")
        if not resources or not any(v > 0 for v in resources.values()):
            problems.append("Task uses no resources")
        elif not contains(pool, resources):
            problems.append(f"Task uses more resources {describe(resources)} than available {describe(pool)}")
        else:
            problems += indivisible_problems(pool, resources)
        if problems:
            self._reject(fw, ti, agent, "TASK_ERROR", "REASON_TASK_INVALID", "; ".join(problems))
            return pool
        user = (command or {}).get("user") or fw.info.get("user") or ""
        if not _user_exists(user):  # an agent switching to the framework's user cannot create the sandbox
            message = f"Failed to create sandbox: user '{user}' does not exist on agent {agent.hostname}"
            self._reject(fw, ti, agent, "TASK_FAILED", "REASON_EXECUTOR_TERMINATED", message)
            return pool
        assert isinstance(task_id, str)
        task = Task(task_id, fw.id, agent, agent.id, ti, resources)
        self.hold_resources(task)
        self.tasks[task_id] = task
        self._runner.launch(task)
        return subtract(pool, resources)

    def _reject(
        self, fw: Framework, ti: dict[str, Any], agent: Agent | None, state: str, reason: str, message: str
    ) -> None:
        task_id = (ti.get("task_id") or {}).get("value")
        agent_id = agent.id if agent is not None else (ti.get("agent_id") or {}).get("value", "")
        log.warning("task %s rejected: %s", task_id, message)
        if isinstance(task_id, str) and task_id and task_id not in self.tasks:
            task = Task(task_id, fw.id, None, agent_id, ti, {})
            self.tasks[task_id] = task
            self.update(task, state, message, SOURCE_MASTER, reason)
        else:  # duplicate or unusable id: a one-off answer
            self._send_once(fw, task_id if isinstance(task_id, str) else "", agent_id, state, reason, message)

    def _on_kill(self, fw: Framework, call: dict[str, Any]) -> None:
        kill = call.get("kill") or {}
        task_id = _value(kill.get("task_id"))
        task = self.tasks.get(task_id)
        if task is None or task.framework_id != fw.id:
            agent_id = (kill.get("agent_id") or {}).get("value", "")
            message = "Attempted to kill an unknown task"
            self._send_once(fw, task_id, agent_id, "TASK_LOST", "REASON_RECONCILIATION", message)
            return
        if task.state in TERMINAL_TASK_STATES:
            return
        grace = _grace(kill.get("kill_policy")) or _grace(task.info.get("kill_policy"))
        if fw.has_capability("TASK_KILLING_STATE") and task.state == "TASK_RUNNING":
            self.update(task, "TASK_KILLING", None, SOURCE_EXECUTOR)
        self._runner.kill(task, self.kill_grace if grace is None else grace)

    def _on_acknowledge(self, fw: Framework, call: dict[str, Any]) -> None:
        ack = call.get("acknowledge") or {}
        task = self.tasks.get(_value(ack.get("task_id")))
        if task is None or task.framework_id != fw.id or not task.pending:
            return
        if task.pending[0].get("uuid") != ack.get("uuid"):
            log.debug("ignoring acknowledgement of task %s with an unexpected uuid", task.id)
            return
        task.pending.popleft()
        if task.pending:
            self._deliver(fw, task)
        elif task.state in TERMINAL_TASK_STATES:
            self.complete(task)

    def _on_reconcile(self, fw: Framework, call: dict[str, Any]) -> None:
        wanted = (call.get("reconcile") or {}).get("tasks") or []
        if not wanted:
            for known in [t for t in self.tasks.values() if t.framework_id == fw.id]:
                self._send_reconciled(fw, known)
            return
        for item in wanted:
            task_id = _value(item.get("task_id"))
            task = self.tasks.get(task_id) or self.completed.get(task_id)
            if task is not None and task.framework_id == fw.id:
                self._send_reconciled(fw, task)
            else:
                agent_id = (item.get("agent_id") or {}).get("value", "")
                message = "Reconciliation: Task is unknown"
                self._send_once(fw, task_id, agent_id, "TASK_LOST", "REASON_RECONCILIATION", message)

    def _send_reconciled(self, fw: Framework, task: Task) -> None:
        if task.agent is not None and task.agent.unreachable:
            message = f"Reconciliation: agent {task.agent_id} is unreachable"
            self._send_once(fw, task.id, task.agent_id, "TASK_LOST", "REASON_RECONCILIATION", message)
            return
        # A task accepted but not yet started has sent no update; the master answers TASK_STAGING for it.
        latest = task.status or {
            "task_id": {"value": task.id},
            "state": task.state,
            "agent_id": {"value": task.agent_id},
        }
        status = {k: v for k, v in latest.items() if k != "uuid"}
        status.update(
            source=SOURCE_MASTER,
            reason="REASON_RECONCILIATION",
            message="Reconciliation: Latest task state",
            timestamp=time.time(),
        )
        if fw.stream is not None:
            fw.stream.send({"type": "UPDATE", "update": {"status": status}})

    def _send_once(self, fw: Framework, task_id: Any, agent_id: str, state: str, reason: str, message: str) -> None:
        """An update that needs no acknowledgement (no uuid): answers about unknown or invalid tasks."""
        if fw.stream is None:
            return
        status = {
            "task_id": {"value": task_id or ""},
            "state": state,
            "source": SOURCE_MASTER,
            "reason": reason,
            "message": message,
            "timestamp": time.time(),
        }
        if agent_id:
            status["agent_id"] = {"value": agent_id}
        fw.stream.send({"type": "UPDATE", "update": {"status": status}})

    # ----------------------------------------------------------------- task state

    def hold_resources(self, task: Task) -> None:
        assert task.agent is not None
        task.holds_resources = True
        task.agent.used = add(task.agent.used, task.resources)

    def update(self, task: Task, state: str, message: str | None, source: str, reason: str | None = None) -> None:
        """Move a task to `state` and queue a reliable (acknowledged) status update for it."""
        status: dict[str, Any] = {
            "task_id": {"value": task.id},
            "state": state,
            "agent_id": {"value": task.agent_id},
            "source": source,
            "timestamp": time.time(),
            "uuid": base64.b64encode(uuid.uuid4().bytes).decode("ascii"),
        }
        if message:
            status["message"] = message
        if reason:
            status["reason"] = reason
        if task.container_id:
            status["container_status"] = {"container_id": {"value": task.container_id}}
        task.state = state
        task.status = status
        log.info("task %s -> %s%s", task.id, state, f" ({message})" if message else "")
        if state in TERMINAL_TASK_STATES and task.holds_resources:
            task.holds_resources = False
            if task.agent is not None:
                task.agent.used = subtract(task.agent.used, task.resources)
            self.wake.set()
        fw = self.frameworks.get(task.framework_id)
        if fw is None:
            if state in TERMINAL_TASK_STATES:
                self.complete(task)
            return
        task.pending.append(status)
        if len(task.pending) == 1:
            self._deliver(fw, task)

    def _deliver(self, fw: Framework, task: Task) -> None:
        task.last_sent = time.monotonic()
        if task.agent is not None and task.agent.unreachable:
            return  # the agent keeps it until it is back (retry_updates)
        if fw.stream is not None and task.pending:
            fw.stream.send({"type": "UPDATE", "update": {"status": task.pending[0]}})

    def complete(self, task: Task) -> None:
        if self.tasks.get(task.id) is task:
            del self.tasks[task.id]
            self.checkpoint.remove_task(task.id)
        task.pending.clear()
        self.completed[task.id] = task
        self.completed.move_to_end(task.id)
        while len(self.completed) > MAX_COMPLETED_TASKS:
            self.completed.popitem(last=False)

    # ----------------------------------------------------------------- housekeeping (the allocator's rounds)

    def expire_frameworks(self) -> None:
        now = time.monotonic()
        for fw in list(self.frameworks.values()):
            if fw.stream is None and fw.disconnected_at is not None and now - fw.disconnected_at >= fw.failover_timeout:
                log.info("framework %s did not re-subscribe within its failover timeout; removing it", fw.id)
                self.remove_framework(fw)

    def retry_updates(self) -> None:
        now = time.monotonic()
        for task in self.tasks.values():
            if task.pending and now - task.last_sent >= self.retry_interval:
                fw = self.frameworks.get(task.framework_id)
                if fw is not None and fw.stream is not None:
                    log.debug("resending unacknowledged %s of task %s", task.pending[0]["state"], task.id)
                    self._deliver(fw, task)

    # ----------------------------------------------------------------- /state

    def agent_state(self, agent: Agent) -> dict[str, Any]:
        return {
            "id": agent.id,
            "hostname": agent.hostname,
            "pid": f"slave(1)@{self.advertised_ip}:{agent.port}",  # each agent on its own port
            "active": True,
            "registered_time": agent.registered,
            "resources": {**by_name(agent.total), "ports": ports_text(agent.total)},
            "unreserved_resources": by_name(for_role(agent.total, UNRESERVED)),
            "reserved_resources": reserved_by_role(agent.total),
            "used_resources": {n: by_name(agent.used).get(n, 0.0) for n in RESOURCE_NAMES},
            "offered_resources": {n: by_name(agent.offered).get(n, 0.0) for n in RESOURCE_NAMES},
            "attributes": dict(agent.attributes),
        }

    @staticmethod
    def _task_state(task: Task) -> dict[str, Any]:
        return {
            "id": task.id,
            "name": task.name,
            "framework_id": task.framework_id,
            "slave_id": task.agent_id,
            "state": task.state,
            "resources": {n: by_name(task.resources).get(n, 0.0) for n in RESOURCE_NAMES},
            "sandbox": str(task.sandbox) if task.sandbox else None,
            "pid": task.pid if not task.exited else None,
            "statuses": [task.status] if task.status else [],
        }

    def _framework_state(self, fw: Framework) -> dict[str, Any]:
        return {
            "id": fw.id,
            "name": fw.info.get("name", ""),
            "role": fw.info.get("role", "*"),
            "active": fw.stream is not None,
            "connected": fw.stream is not None,
            "failover_timeout": fw.failover_timeout,
            "offers": [
                {"id": o.id, "slave_id": o.agent.id, "resources": dict(o.resources)}
                for o in self.offers.values()
                if o.framework_id == fw.id
            ],
            "tasks": [self._task_state(t) for t in self.tasks.values() if t.framework_id == fw.id],
            "completed_tasks": [
                self._task_state(t) for t in list(self.completed.values())[-1000:] if t.framework_id == fw.id
            ],
        }

    def state(self) -> dict[str, Any]:
        """A minimal version of Mesos' /master/state."""
        with self.lock:
            return {
                "version": MESOS_VERSION,
                "id": self.id,
                "pid": f"master@{self.address}",
                "hostname": self.hostname,
                "start_time": self.started_at,
                "leader": f"master@{self.address}",
                "activated_slaves": len(self.agents),
                "deactivated_slaves": 0,
                "slaves": [self.agent_state(a) for a in self.agents.values()],
                "frameworks": [self._framework_state(fw) for fw in self.frameworks.values()],
                "completed_frameworks": [],
            }
