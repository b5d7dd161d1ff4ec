"""The local cluster: a Mesos master and one or several agents in one process.

It speaks the Mesos v1 scheduler HTTP API (JSON only), so the unmodified
`pymesos.MesosSchedulerDriver` talks to it exactly as to a real master: give the driver
`master_uri="127.0.0.1:<port>"` (see `LocalCluster.address`). Tasks run as child processes of
this process, each in its own session (process group) under `workers/task_wrapper.py`, with no
shell unless the task's `command.shell` is true. What an agent checkpoints is kept under
<var_dir>/local-cluster/ (`workers/agent_checkpoint.py`), so a restarted cluster recovers its tasks.

Start it
    python -m workers.local_cluster [--host H] [--port P] [--agents N] [--cpus C] [--mem M]
                                   [--disk D] [--attributes "rack:a;zone:1"] [--heartbeat-interval S]
    (defaults from app.settings: LOCAL_CLUSTER_PORT, LOCAL_CLUSTER_AGENTS, LOCAL_CLUSTER_CPUS/MEM/DISK,
    LOCAL_CLUSTER_OFFER_INTERVAL, SCALE_VAR_DIR; SIGTERM/SIGINT stop it and kill its tasks, which the
    next start reports TASK_LOST with reason REASON_AGENT_RESTARTED)

    or in-process:  cluster = LocalCluster(port=0, agents=2, var_dir=tmp); cluster.start();
                    ... cluster.address ...; cluster.stop()

HTTP routes
    POST /api/v1/scheduler            the v1 scheduler API (also /master/api/v1/scheduler).
                                      SUBSCRIBE answers 200 with a chunked RecordIO event stream and a
                                      `Mesos-Stream-Id` header; every other call must carry that header
                                      and the subscribed framework_id, and is answered 202.
    GET  /version                     {"version": "1.11.0", ...}  (pymesos asks for it on start)
    GET  /health                      200 {"healthy": true}
    GET  /state, /state.json          minimal Mesos-like state: agents ("slaves") with resources,
         /master/state[.json]         used/offered resources, frameworks and their tasks
    GET  /redirect, /master/redirect  307 to //<host>:<port> (this process is always the leader)

  Test-only routes (to simulate agents joining and leaving):
    GET  /local/agents                    the agents, as in /state
    POST /local/agents/add                add an agent; optional JSON body
                                          {"hostname", "cpus", "mem", "disk", "attributes": {name: value}}
                                          -> 200 {"agent_id": ..., "hostname": ...}
    POST /local/agents/<agent_id>/remove  remove an agent: rescind its offers, kill its tasks, send
                                          TASK_LOST (reason REASON_AGENT_REMOVED) for each and a FAILURE
                                          event with the agent id; -> 200 {"agent_id", "lost_tasks"},
                                          404 if unknown

Behaviour (as the real master and its command executor, unless noted)
  * Offers: every offer interval, each active agent's unused, unoffered resources (cpus, mem, disk as
    SCALAR resources with role "*") are offered to a subscribed, unsuppressed framework whose filters
    do not refuse them. Declined offers, and the unused part of accepted ones, are filtered for
    `filters.refuse_seconds` (default 5 s, as in Mesos); REVIVE clears the filters. A task's resources
    are freed when its process ends, and offered again at once.
  * Status updates that change a task's state carry a base64 `uuid`, are delivered one at a time per
    task in order, and are resent every `retry_interval` seconds (and on re-subscribe) until
    acknowledged. Answers to RECONCILE and to KILL of an unknown task carry no uuid
    (reason REASON_RECONCILIATION) and need no acknowledgement.
  * Exit: 0 -> TASK_FINISHED, otherwise TASK_FAILED, with the message "Command exited with status N" or
    "Command terminated with signal <strsignal name>" (e.g. "Killed"). A command that cannot start ->
    TASK_FAILED "Failed to launch command: ...". Invalid tasks (too many resources, bad ids, custom
    executors, no command) -> TASK_ERROR with reason REASON_TASK_INVALID.
  * KILL: SIGTERM to the task's process group, SIGKILL after the kill policy's grace period (default
    3 s), then TASK_KILLED. When a task's main process ends, what is left of its process group is killed.
  * A closed event stream keeps the framework's tasks for framework_info.failover_timeout seconds
    (pymesos sends 100 when unset); a SUBSCRIBE with the same framework id takes the framework over
    (the previous stream gets an ERROR "Framework failed over" and is closed). TEARDOWN kills all its tasks.
  * Restart (agent recovery): agent ids, FrameworkInfos and tasks are checkpointed. A cluster started
    again takes back the tasks still running (same pid and start time), reports tasks that ended while
    it was down with the exit status their wrapper recorded (TASK_FAILED REASON_EXECUTOR_TERMINATED if
    none), and kills every process under its sandbox root that no checkpoint accounts for, before it
    serves anyone. Recovered frameworks count as disconnected: they have failover_timeout seconds to
    re-subscribe and receive the pending updates.
  * Deviations: JSON only (no protobuf); only command tasks (no executors, containers are ignored);
    resources are accounted, not enforced; several frameworks may subscribe (offers go round-robin);
    a re-SUBSCRIBE with a torn-down framework id is accepted as a new framework; RECONCILE also
    answers for recently completed tasks (the last 10000) with their terminal state; a task is
    checkpointed once its process exists, so one accepted but not yet started when the cluster crashes
    is unknown to the restarted cluster (reconciliation answers TASK_LOST, which spends no try).
"""

from __future__ import annotations

import argparse
import base64
import collections
import itertools
import json
import logging
import os
import pwd
import queue
import re
import select
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, Iterable

from app.mesos import RESOURCE_NAMES, TERMINAL_TASK_STATES
from workers.agent_checkpoint import WRAPPER, Checkpoint, RecoveredTask, kill_orphans, process_start_time, wait_for_exit

log = logging.getLogger(__name__)

MESOS_VERSION = "1.11.0"
TERMINAL_STATES = TERMINAL_TASK_STATES
DEFAULT_REFUSE_SECONDS = 5.0  # Mesos' Filters.refuse_seconds default
MIN_OFFER_CPUS = 0.01  # Mesos' minimum allocatable resources
MIN_OFFER_MEM = 32.0
EPSILON = 1e-6
MAX_COMPLETED_TASKS = 10000
SOURCE_MASTER = "SOURCE_MASTER"
SOURCE_EXECUTOR = "SOURCE_EXECUTOR"


# --------------------------------------------------------------------------- resources


def machine_resources(var_dir: str | os.PathLike, agents: int = 1) -> dict[str, float]:
    """This machine's CPUs, memory (MiB) and free disk of var_dir (MiB), divided among `agents`."""
    agents = max(1, int(agents))
    cpus = float(os.cpu_count() or 1)
    mem = 0.0
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemTotal:"):
                    mem = float(line.split()[1]) / 1024.0  # kB -> MiB
                    break
    except OSError:
        pass
    if not mem:
        try:
            mem = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**20
        except (ValueError, OSError, AttributeError):
            mem = 1024.0
    path = Path(var_dir)
    path.mkdir(parents=True, exist_ok=True)
    disk = shutil.disk_usage(path).free / 2**20
    return {
        "cpus": round(cpus / agents, 3),
        "mem": float(int(mem / agents)),
        "disk": float(int(disk / agents)),
    }


def parse_attributes(text: str | None) -> dict[str, Any]:
    """Mesos agent attribute syntax `name:value;name2:value2`; numeric values become SCALARs."""
    attributes: dict[str, Any] = {}
    for part in (text or "").split(";"):
        part = part.strip()
        if not part:
            continue
        name, sep, value = part.partition(":")
        if not sep or not name.strip():
            raise ValueError(f"bad attribute {part!r}; expected name:value")
        value = value.strip()
        try:
            attributes[name.strip()] = float(value)
        except ValueError:
            attributes[name.strip()] = value
    return attributes


def _round(res: dict[str, float]) -> dict[str, float]:
    return {k: round(v, 6) for k, v in res.items()}


def _add(a: dict[str, float], b: dict[str, float]) -> dict[str, float]:
    out = dict(a)
    for k, v in b.items():
        out[k] = out.get(k, 0.0) + v
    return _round(out)


def _sub(a: dict[str, float], b: dict[str, float]) -> dict[str, float]:
    out = dict(a)
    for k, v in b.items():
        out[k] = max(0.0, out.get(k, 0.0) - v)
    return _round(out)


def _contains(have: dict[str, float], need: dict[str, float]) -> bool:
    return all(v <= have.get(k, 0.0) + EPSILON for k, v in need.items())


def _allocatable(res: dict[str, float]) -> bool:
    return res.get("cpus", 0.0) >= MIN_OFFER_CPUS or res.get("mem", 0.0) >= MIN_OFFER_MEM


def _resources_json(res: dict[str, float]) -> list[dict[str, Any]]:
    return [
        {"name": name, "type": "SCALAR", "scalar": {"value": round(res[name], 3)}, "role": "*"}
        for name in RESOURCE_NAMES
        if res.get(name, 0.0) > EPSILON
    ]


def _parse_resources(items: Iterable[dict[str, Any]]) -> tuple[dict[str, float], list[str]]:
    """Sum SCALAR resources by name; return (sums, problems) for anything this cluster cannot offer."""
    sums: dict[str, float] = {}
    problems = []
    for item in items or []:
        name = item.get("name")
        kind = item.get("type", "SCALAR")
        if kind != "SCALAR" or name not in RESOURCE_NAMES:
            problems.append(f"resource {name!r} of type {kind} is not offered by this cluster")
            continue
        value = float((item.get("scalar") or {}).get("value", 0.0))
        if value < 0:
            problems.append(f"resource {name!r} is negative")
            continue
        sums[name] = sums.get(name, 0.0) + value
    return _round(sums), problems


def _attributes_json(attributes: dict[str, Any]) -> list[dict[str, Any]]:
    out = []
    for name, value in attributes.items():
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            out.append({"name": name, "type": "SCALAR", "scalar": {"value": float(value)}})
        else:
            out.append({"name": name, "type": "TEXT", "text": {"value": str(value)}})
    return out


def _validate_id(value: Any) -> str | None:
    """Mesos' ID validation (a task id also names its sandbox directory)."""
    if not isinstance(value, str) or not value:
        return "ID must not be empty"
    if len(value) > 255:
        return "ID must not be longer than 255 characters"
    if value in (".", ".."):
        return "'.' and '..' are disallowed for ID"
    if "/" in value or "\\" in value or "\x00" in value:
        return "ID must not contain '/', '\\\\' or NUL"
    if any(not ch.isprintable() or ch.isspace() for ch in value):
        return "ID must not contain whitespace or unprintable characters"
    return None


def task_base_environment() -> dict[str, str]:
    """The environment every task starts from (LOCAL_CLUSTER_TASK_ENV), plus HOME and USER of the agent's user."""
    from app.settings import settings

    try:
        base = json.loads(settings.LOCAL_CLUSTER_TASK_ENV or "{}")
    except ValueError as exc:
        raise ValueError(f"LOCAL_CLUSTER_TASK_ENV is not a JSON object: {exc}") from None
    if not isinstance(base, dict):
        raise ValueError("LOCAL_CLUSTER_TASK_ENV must be a JSON object of variable names to values")
    user = pwd.getpwuid(os.getuid())
    return {"HOME": user.pw_dir, "USER": user.pw_name, **{str(k): str(v) for k, v in base.items()}}


def _user_exists(user: str) -> bool:
    try:
        pwd.getpwnam(user)
    except KeyError:
        return False
    return bool(user)


def _describe_exit(returncode: int) -> str:
    if returncode >= 0:
        return f"Command exited with status {returncode}"
    try:
        name = signal.strsignal(-returncode) or f"signal {-returncode}"
    except ValueError:
        name = f"Unknown signal {-returncode}"
    return f"Command terminated with signal {name}"


# --------------------------------------------------------------------------- state objects


class _Stream:
    """One SUBSCRIBE connection: events are queued here and written by its HTTP handler thread."""

    def __init__(self, framework_id: str) -> None:
        self.id = str(uuid.uuid4())
        self.framework_id = framework_id
        self.queue: queue.Queue[bytes | None] = queue.Queue()
        self.closed = False

    def send(self, event: dict[str, Any]) -> None:
        if not self.closed:
            self.queue.put(json.dumps(event, separators=(",", ":")).encode("utf-8"))

    def close(self) -> None:
        if not self.closed:
            self.closed = True
            self.queue.put(None)


class _Agent:
    def __init__(
        self, agent_id: str, number: int, hostname: str, total: dict[str, float], attributes: dict[str, Any]
    ) -> None:
        self.id = agent_id
        self.number = number
        self.hostname = hostname
        self.total = {k: round(float(v), 3) for k, v in total.items()}  # offers show 3 decimals
        self.attributes = dict(attributes or {})
        self.used: dict[str, float] = {}
        self.offered: dict[str, float] = {}
        self.registered = time.time()

    def available(self) -> dict[str, float]:
        return _sub(_sub(self.total, self.used), self.offered)


class _Offer:
    def __init__(self, offer_id: str, framework_id: str, agent: _Agent, resources: dict[str, float]) -> None:
        self.id = offer_id
        self.framework_id = framework_id
        self.agent = agent
        self.resources = resources


class _Framework:
    def __init__(self, framework_id: str, info: dict[str, Any]) -> None:
        self.id = framework_id
        self.info = info
        self.stream: _Stream | None = None
        self.suppressed = False
        self.filters: list[tuple[str, dict[str, float], float]] = []  # (agent id, resources, expiry)
        self.disconnected_at: float | None = None

    @property
    def failover_timeout(self) -> float:
        try:
            return float(self.info.get("failover_timeout", 0.0))
        except (TypeError, ValueError):
            return 0.0

    def has_capability(self, name: str) -> bool:
        return any(c.get("type") == name for c in self.info.get("capabilities") or [])

    def refuses(self, agent_id: str, resources: dict[str, float], now: float) -> bool:
        self.filters = [f for f in self.filters if f[2] > now]
        return any(a == agent_id and _contains(res, resources) for a, res, _ in self.filters)


class _Task:
    def __init__(
        self,
        task_id: str,
        framework_id: str,
        agent: _Agent | None,
        agent_id: str,
        info: dict[str, Any],
        resources: dict[str, float],
    ) -> None:
        self.id = task_id
        self.framework_id = framework_id
        self.agent = agent
        self.agent_id = agent_id
        self.info = info
        self.name = info.get("name", "")
        self.resources = resources
        self.holds_resources = False
        self.state = "TASK_STAGING"
        self.status: dict[str, Any] = {}
        self.pending: collections.deque[dict[str, Any]] = collections.deque()
        self.last_sent = 0.0
        self.proc: subprocess.Popen | None = None  # None for a task recovered from the checkpoint
        self.pid: int | None = None  # the task wrapper's: it leads the task's session and process group
        self.sandbox: Path | None = None
        self.exited = False
        self.kill_requested = False
        self.kill_timer: threading.Timer | None = None


# --------------------------------------------------------------------------- HTTP


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "ScaleLocalCluster/" + MESOS_VERSION

    @property
    def cluster(self) -> "LocalCluster":
        return self.server.cluster  # type: ignore[attr-defined]

    def setup(self) -> None:
        super().setup()
        self.cluster._track_connection(self.connection, True)

    def finish(self) -> None:
        try:
            super().finish()
        finally:
            self.cluster._track_connection(self.connection, False)

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - stdlib signature
        log.debug("%s %s", self.address_string(), format % args)

    def reply(
        self, code: int, body: Any = None, content_type: str = "application/json", headers: dict[str, str] | None = None
    ) -> None:
        if body is None:
            data = b""
        elif isinstance(body, (bytes, bytearray)):
            data = bytes(body)
        elif isinstance(body, str):
            data = body.encode("utf-8")
            content_type = "text/plain; charset=utf-8"
        else:
            data = json.dumps(body).encode("utf-8")
        self.send_response(code)
        if data:
            self.send_header("Content-Type", content_type)
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        if data and self.command != "HEAD":
            self.wfile.write(data)

    def read_body(self) -> bytes | None:
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            self.reply(411, "chunked request bodies are not supported; send Content-Length")
            self.close_connection = True
            return None
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length else b""

    def do_GET(self) -> None:
        self.cluster._route_get(self)

    do_HEAD = do_GET

    def do_POST(self) -> None:
        body = self.read_body()
        if body is not None:
            self.cluster._route_post(self, body)


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False
    allow_reuse_address = True


# --------------------------------------------------------------------------- the cluster


class LocalCluster:
    """A Mesos master plus agents on this machine. See the module docstring.

    `agents` is a number of identical agents, or a list of dicts
    `{"hostname", "cpus", "mem", "disk", "attributes"}` (missing keys take the defaults).
    Unset arguments come from app.settings; cpus/mem/disk of 0 derive from this machine.
    """

    def __init__(
        self,
        port: int | None = None,
        agents: int | list[dict[str, Any]] | None = None,
        *,
        var_dir: str | os.PathLike | None = None,
        host: str = "127.0.0.1",
        cpus: float | None = None,
        mem: float | None = None,
        disk: float | None = None,
        attributes: dict[str, Any] | None = None,
        hostname: str | None = None,
        offer_interval: float | None = None,
        heartbeat_interval: float = 15.0,
        retry_interval: float = 3.0,
        kill_grace: float = 3.0,
    ) -> None:
        from app.settings import settings

        self.host = host
        self._requested_port = settings.LOCAL_CLUSTER_PORT if port is None else int(port)
        self.var_dir = Path(var_dir if var_dir is not None else settings.SCALE_VAR_DIR)
        self.sandbox_root = (self.var_dir / "sandboxes").resolve()  # absolute: tasks find it from anywhere
        self.offer_interval = float(settings.LOCAL_CLUSTER_OFFER_INTERVAL if offer_interval is None else offer_interval)
        self.heartbeat_interval = float(heartbeat_interval)
        self.retry_interval = float(retry_interval)
        self.kill_grace = float(kill_grace)
        self.base_hostname = hostname or socket.gethostname()
        self.default_attributes = dict(attributes or {})

        if agents is None:
            agents = settings.LOCAL_CLUSTER_AGENTS
        specs = [{} for _ in range(max(0, int(agents)))] if isinstance(agents, int) else [dict(a) for a in agents]
        count = max(1, len(specs))
        cpus = settings.LOCAL_CLUSTER_CPUS if cpus is None else cpus
        mem = settings.LOCAL_CLUSTER_MEM if mem is None else mem
        disk = settings.LOCAL_CLUSTER_DISK if disk is None else disk
        derived = machine_resources(self.var_dir, count) if not (cpus and mem and disk) else {}
        self.default_resources = {
            "cpus": float(cpus or derived["cpus"]),
            "mem": float(mem or derived["mem"]),
            "disk": float(disk or derived["disk"]),
        }
        self._initial_specs = specs

        self.master_id = str(uuid.uuid4())
        self.checkpoint = Checkpoint(self.var_dir)
        self._agent_ids = self.checkpoint.agent_ids()  # agent number -> id, kept across restarts
        self._lock = threading.RLock()
        self._agents: dict[str, _Agent] = {}
        self._frameworks: dict[str, _Framework] = {}
        self._offers: dict[str, _Offer] = {}
        self._tasks: dict[str, _Task] = {}
        self._completed: collections.OrderedDict[str, _Task] = collections.OrderedDict()
        self._agent_numbers = itertools.count()
        self._offer_numbers = itertools.count()
        self._framework_numbers = itertools.count()
        self._round_robin = 0
        self._launch_queue: queue.Queue[_Task | None] = queue.Queue()
        self._wake = threading.Event()
        self._stopping = threading.Event()
        self._connections: set[socket.socket] = set()
        self._server: _Server | None = None
        self._threads: list[threading.Thread] = []
        self.started_at = 0.0

        for spec in specs:
            self._new_agent(spec)

    # ----------------------------------------------------------------- lifecycle

    @property
    def port(self) -> int:
        if self._server is not None:
            return self._server.server_address[1]
        return self._requested_port

    @property
    def advertised_ip(self) -> str:
        return "127.0.0.1" if self.host in ("", "0.0.0.0", "::") else self.host

    @property
    def address(self) -> str:
        """`host:port`, the form pymesos' master_uri and the MESOS_MASTER setting take."""
        return f"{self.advertised_ip}:{self.port}"

    @property
    def url(self) -> str:
        return f"http://{self.address}"

    def start(self) -> "LocalCluster":
        if self._server is not None:
            return self
        self.sandbox_root.mkdir(parents=True, exist_ok=True)
        self.checkpoint.lock()
        try:
            self.checkpoint.save_agent_ids(self._agent_ids)
            adopted = self._recover()
            # Before anyone can ask about them: a process no checkpoint accounts for is killed.
            kill_orphans(self.sandbox_root, keep=adopted)
            self._server = _Server((self.host, self._requested_port), _Handler)
        except BaseException:
            self.checkpoint.unlock()
            raise
        self._server.cluster = self  # type: ignore[attr-defined]
        self.started_at = time.time()
        for target, name in (
            (lambda: self._server.serve_forever(poll_interval=0.05), "local-cluster-http"),  # type: ignore[union-attr]
            (self._allocator_loop, "local-cluster-allocator"),
            (self._launcher_loop, "local-cluster-launcher"),
        ):
            t = threading.Thread(target=target, name=name, daemon=True)
            t.start()
            self._threads.append(t)
        with self._lock:
            agents = list(self._agents.values())
        log.info(
            "local cluster listening on %s with %d agent(s): %s",
            self.url,
            len(agents),
            ", ".join(f"{a.hostname} {a.total}" for a in agents),
        )
        return self

    def stop(self, grace: float | None = None) -> None:
        """Stop serving, close the event streams, and kill every task (SIGTERM, then SIGKILL).

        The tasks killed are checkpointed as the cluster's doing: the next start reports them lost, so a
        scheduler runs them again without counting a try against the job."""
        if self._server is None or self._stopping.is_set():
            return
        self._stopping.set()
        self._wake.set()
        self._launch_queue.put(None)
        self._server.shutdown()
        self._server.server_close()
        grace = self.kill_grace if grace is None else grace
        with self._lock:
            for fw in self._frameworks.values():
                if fw.stream is not None:
                    fw.stream.close()
            tasks = [t for t in self._tasks.values() if t.pid is not None and not t.exited]
            for task in tasks:
                self.checkpoint.mark(task.id, "shutdown")
                task.kill_requested = True
                self._signal(task, signal.SIGTERM)
        deadline = time.monotonic() + grace
        while time.monotonic() < deadline and any(not t.exited for t in tasks):
            time.sleep(0.02)
        with self._lock:
            for task in tasks:
                if not task.exited:
                    self._signal(task, signal.SIGKILL)
            connections = list(self._connections)
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline and any(not t.exited for t in tasks):
            time.sleep(0.02)
        for task in tasks:
            if not task.exited:
                log.warning("task %s (pid %s) did not exit", task.id, task.pid)
        for conn in connections:
            try:
                conn.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
        for t in self._threads:
            t.join(timeout=5)
        self.checkpoint.unlock()
        log.info("local cluster stopped")

    def __enter__(self) -> "LocalCluster":
        return self.start()

    def __exit__(self, *exc: Any) -> None:
        self.stop()

    def _track_connection(self, conn: socket.socket, add: bool) -> None:
        with self._lock:
            if add:
                self._connections.add(conn)
            else:
                self._connections.discard(conn)

    # ----------------------------------------------------------------- agents

    def _new_agent(self, spec: dict[str, Any]) -> _Agent:
        number = next(self._agent_numbers)
        hostname = spec.get("hostname")
        if not hostname:
            in_use = {a.hostname for a in self._agents.values()}
            if len(self._initial_specs) <= 1 and self.base_hostname not in in_use:
                hostname = self.base_hostname
            else:
                n = 1
                while f"{self.base_hostname}-{n}" in in_use:
                    n += 1
                hostname = f"{self.base_hostname}-{n}"
        total = {name: float(spec.get(name) or self.default_resources[name]) for name in RESOURCE_NAMES}
        attributes = spec.get("attributes")
        if attributes is None:
            attributes = self.default_attributes
        elif isinstance(attributes, str):
            attributes = parse_attributes(attributes)
        agent_id = self._agent_ids.setdefault(number, f"{self.master_id}-S{number}")
        agent = _Agent(agent_id, number, hostname, total, attributes)
        self._agents[agent.id] = agent
        if self._server is not None:
            self.checkpoint.save_agent_ids(self._agent_ids)
        return agent

    def add_agent(self, **spec: Any) -> str:
        """Add an agent (hostname, cpus, mem, disk, attributes); returns its id."""
        with self._lock:
            agent = self._new_agent(spec)
        log.info("agent %s (%s) added with %s", agent.id, agent.hostname, agent.total)
        self._wake.set()
        return agent.id

    def remove_agent(self, agent_id: str) -> list[str]:
        """Remove an agent as if it were lost; returns the ids of the tasks reported TASK_LOST."""
        lost = []
        with self._lock:
            agent = self._agents.pop(agent_id, None)
            if agent is None:
                raise KeyError(agent_id)
            self._agent_ids.pop(agent.number, None)  # a removed agent that comes back is a new agent
            self.checkpoint.save_agent_ids(self._agent_ids)
            for offer in [o for o in self._offers.values() if o.agent is agent]:
                del self._offers[offer.id]
                fw = self._frameworks.get(offer.framework_id)
                if fw is not None and fw.stream is not None:
                    fw.stream.send({"type": "RESCIND", "rescind": {"offer_id": {"value": offer.id}}})
            for task in [t for t in self._tasks.values() if t.agent is agent and t.state not in TERMINAL_STATES]:
                self._signal(task, signal.SIGKILL)
                self._update(
                    task,
                    "TASK_LOST",
                    f"Agent {agent_id} ({agent.hostname}) removed",
                    SOURCE_MASTER,
                    "REASON_AGENT_REMOVED",
                )
                lost.append(task.id)
            for fw in self._frameworks.values():
                if fw.stream is not None:
                    fw.stream.send({"type": "FAILURE", "failure": {"agent_id": {"value": agent_id}}})
        log.info("agent %s removed; tasks lost: %s", agent_id, lost)
        return lost

    def agents(self) -> list[dict[str, Any]]:
        with self._lock:
            return [self._agent_state(a) for a in self._agents.values()]

    def _agent_state(self, agent: _Agent) -> dict[str, Any]:
        return {
            "id": agent.id,
            "hostname": agent.hostname,
            "pid": f"slave({agent.number + 1})@{self.advertised_ip}:{self.port}",
            "active": True,
            "registered_time": agent.registered,
            "resources": dict(agent.total),
            "unreserved_resources": dict(agent.total),
            "used_resources": {n: agent.used.get(n, 0.0) for n in RESOURCE_NAMES},
            "offered_resources": {n: agent.offered.get(n, 0.0) for n in RESOURCE_NAMES},
            "attributes": dict(agent.attributes),
        }

    # ----------------------------------------------------------------- routing

    def _route_get(self, h: _Handler) -> None:
        path = h.path.split("?", 1)[0].rstrip("/") or "/"
        if path in ("/version", "/master/version"):
            h.reply(200, {"version": MESOS_VERSION, "build_user": "scale-local-cluster", "build_time": self.started_at})
        elif path in ("/health", "/master/health"):
            h.reply(200, {"healthy": True})
        elif path in ("/state", "/state.json", "/master/state", "/master/state.json"):
            h.reply(200, self.state())
        elif path in ("/redirect", "/master/redirect"):
            h.reply(307, None, headers={"Location": f"//{self.address}"})
        elif path == "/local/agents":
            h.reply(200, {"agents": self.agents()})
        else:
            h.reply(404, f"no route {path}\n")

    def _route_post(self, h: _Handler, body: bytes) -> None:
        path = h.path.split("?", 1)[0].rstrip("/")
        if path in ("/api/v1/scheduler", "/master/api/v1/scheduler"):
            self._scheduler_call(h, body)
            return
        if path == "/local/agents/add":
            try:
                spec = json.loads(body) if body.strip() else {}
                if not isinstance(spec, dict):
                    raise ValueError("body must be a JSON object")
                agent_id = self.add_agent(
                    **{k: spec[k] for k in ("hostname", "cpus", "mem", "disk", "attributes") if k in spec}
                )
            except (ValueError, TypeError) as exc:
                h.reply(400, f"{exc}\n")
                return
            with self._lock:
                hostname = self._agents[agent_id].hostname
            h.reply(200, {"agent_id": agent_id, "hostname": hostname})
            return
        m = re.fullmatch(r"/local/agents/([^/]+)/remove", path)
        if m:
            try:
                lost = self.remove_agent(m.group(1))
            except KeyError:
                h.reply(404, f"unknown agent {m.group(1)}\n")
                return
            h.reply(200, {"agent_id": m.group(1), "lost_tasks": lost})
            return
        h.reply(404, f"no route {path}\n")

    def _scheduler_call(self, h: _Handler, body: bytes) -> None:
        content_type = h.headers.get("Content-Type", "")
        if "json" not in content_type:
            h.reply(415, f"Unsupported Content-Type {content_type!r}: the local cluster speaks application/json only\n")
            return
        try:
            call = json.loads(body)
            if not isinstance(call, dict):
                raise ValueError("not an object")
        except ValueError as exc:
            h.reply(400, f"Failed to parse body into Call: {exc}\n")
            return
        kind = call.get("type")
        if kind == "SUBSCRIBE":
            self._subscribe(h, call)
            return
        if self._stopping.is_set():
            h.reply(503, "Master is stopping\n")
            return
        framework_id = (call.get("framework_id") or {}).get("value")
        stream_id = h.headers.get("Mesos-Stream-Id")
        handlers = {
            "TEARDOWN": self._on_teardown,
            "ACCEPT": self._on_accept,
            "DECLINE": self._on_decline,
            "REVIVE": self._on_revive,
            "SUPPRESS": self._on_suppress,
            "KILL": self._on_kill,
            "ACKNOWLEDGE": self._on_acknowledge,
            "RECONCILE": self._on_reconcile,
        }
        ignored = {
            "SHUTDOWN",
            "MESSAGE",
            "REQUEST",
            "ACCEPT_INVERSE_OFFERS",
            "DECLINE_INVERSE_OFFERS",
            "ACKNOWLEDGE_OPERATION_STATUS",
            "RECONCILE_OPERATIONS",
            "UPDATE_FRAMEWORK",
        }
        with self._lock:
            fw = self._frameworks.get(framework_id) if framework_id else None
            if fw is None:
                error = f"Framework {framework_id!r} is not subscribed"
            elif not stream_id:
                error = "All non-subscribe calls should include the 'Mesos-Stream-Id' header"
            elif fw.stream is None or fw.stream.id != stream_id:
                error = f"The stream ID {stream_id!r} included in this request didn't match the stream ID of framework {framework_id}"
            elif kind not in handlers and kind not in ignored:
                error = f"Unsupported call type {kind!r}"
            else:
                error = None
                if kind in handlers:
                    log.debug("call %s from framework %s", kind, framework_id)
                    handlers[kind](fw, call)
                else:
                    log.info("ignoring %s call from framework %s", kind, framework_id)
        if error:
            log.warning("rejected %s call: %s", kind, error)
            h.reply(400, error + "\n")
        else:
            h.reply(202)

    # ----------------------------------------------------------------- SUBSCRIBE and the event stream

    def _subscribe(self, h: _Handler, call: dict[str, Any]) -> None:
        if self._stopping.is_set():
            h.reply(503, "Master is stopping\n")
            return
        subscribe = call.get("subscribe") or {}
        info = dict(subscribe.get("framework_info") or {})
        if not isinstance(info.get("user"), str):  # a required field of FrameworkInfo
            h.reply(400, "Failed to validate scheduler::Call: Expecting 'framework_info.user' to be present\n")
            return
        framework_id = (call.get("framework_id") or {}).get("value") or (info.get("id") or {}).get("value")
        with self._lock:
            if not framework_id:
                framework_id = f"{self.master_id}-{next(self._framework_numbers):04d}"
            info["id"] = {"value": framework_id}
            fw = self._frameworks.get(framework_id)
            if fw is None:
                fw = self._frameworks[framework_id] = _Framework(framework_id, info)
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
            stream = fw.stream = _Stream(framework_id)
            stream.send(
                {
                    "type": "SUBSCRIBED",
                    "subscribed": {
                        "framework_id": {"value": framework_id},
                        "heartbeat_interval_seconds": self.heartbeat_interval,
                        "master_info": self._master_info(),
                    },
                }
            )
            now = time.monotonic()
            for task in self._tasks.values():
                if task.framework_id == framework_id and task.pending:
                    stream.send({"type": "UPDATE", "update": {"status": task.pending[0]}})
                    task.last_sent = now
        self._wake.set()
        try:
            self._write_stream(h, stream)
        finally:
            self._stream_ended(stream)

    def _master_info(self) -> dict[str, Any]:
        return {
            "id": self.master_id,
            "ip": 0,
            "port": self.port,
            "hostname": self.base_hostname,
            "version": MESOS_VERSION,
            "address": {"hostname": self.base_hostname, "ip": self.advertised_ip, "port": self.port},
        }

    def _write_stream(self, h: _Handler, stream: _Stream) -> None:
        h.close_connection = True
        h.send_response(200)
        h.send_header("Content-Type", "application/json")
        h.send_header("Transfer-Encoding", "chunked")
        h.send_header("Mesos-Stream-Id", stream.id)
        h.send_header("Cache-Control", "no-cache")
        h.end_headers()
        sock = h.connection
        next_heartbeat = time.monotonic() + self.heartbeat_interval
        heartbeat = json.dumps({"type": "HEARTBEAT"}).encode("utf-8")
        try:
            while True:
                timeout = max(0.0, min(0.25, next_heartbeat - time.monotonic()))
                try:
                    records = [stream.queue.get(timeout=timeout)]
                except queue.Empty:
                    records = []
                while True:  # drain what is queued, to write it in one go
                    try:
                        records.append(stream.queue.get_nowait())
                    except queue.Empty:
                        break
                if time.monotonic() >= next_heartbeat:
                    records.append(heartbeat)
                    next_heartbeat = time.monotonic() + self.heartbeat_interval
                done = None in records
                out = bytearray()
                for rec in records:
                    if rec is None:
                        break
                    frame = b"%d\n%s" % (len(rec), rec)
                    out += b"%x\r\n%s\r\n" % (len(frame), frame)
                if out:
                    h.wfile.write(bytes(out))
                if done:
                    h.wfile.write(b"0\r\n\r\n")
                    return
                # The client sent its whole request; anything readable now is EOF (it went away).
                readable, _, _ = select.select([sock], [], [], 0)
                if readable and not sock.recv(4096):
                    log.info("event stream %s of framework %s closed by the scheduler", stream.id, stream.framework_id)
                    return
        except OSError as exc:
            log.info("event stream %s of framework %s broke: %s", stream.id, stream.framework_id, exc)

    def _stream_ended(self, stream: _Stream) -> None:
        with self._lock:
            stream.closed = True
            fw = self._frameworks.get(stream.framework_id)
            if fw is None or fw.stream is not stream:
                return
            fw.stream = None
            fw.disconnected_at = time.monotonic()
            self._recover_offers(fw)
            log.info("framework %s disconnected; its tasks are kept for %.0f s", fw.id, fw.failover_timeout)

    def _recover_offers(self, fw: _Framework) -> None:
        for offer in [o for o in self._offers.values() if o.framework_id == fw.id]:
            self._release_offer(offer)

    def _release_offer(self, offer: _Offer) -> None:
        self._offers.pop(offer.id, None)
        offer.agent.offered = _sub(offer.agent.offered, offer.resources)

    # ----------------------------------------------------------------- calls (all under self._lock)

    def _on_teardown(self, fw: _Framework, call: dict[str, Any]) -> None:
        log.info("framework %s torn down", fw.id)
        self._remove_framework(fw)

    def _remove_framework(self, fw: _Framework) -> None:
        self._recover_offers(fw)
        self._frameworks.pop(fw.id, None)
        self.checkpoint.remove_framework(fw.id)
        if fw.stream is not None:
            fw.stream.close()
            fw.stream = None
        for task in [t for t in self._tasks.values() if t.framework_id == fw.id]:
            if task.state in TERMINAL_STATES:
                self._complete(task)
            elif task.pid is not None:
                self._kill(task, self.kill_grace)
            else:
                task.kill_requested = True  # the launcher will drop it
        self._wake.set()

    def _on_decline(self, fw: _Framework, call: dict[str, Any]) -> None:
        decline = call.get("decline") or {}
        refuse = self._refuse_seconds(decline.get("filters"))
        now = time.monotonic()
        for oid in decline.get("offer_ids") or []:
            offer = self._offers.get((oid or {}).get("value"))
            if offer is None or offer.framework_id != fw.id:
                continue
            self._release_offer(offer)
            if refuse > 0:
                fw.filters.append((offer.agent.id, dict(offer.resources), now + refuse))

    @staticmethod
    def _refuse_seconds(filters: dict[str, Any] | None) -> float:
        try:
            return float((filters or {}).get("refuse_seconds", DEFAULT_REFUSE_SECONDS))
        except (TypeError, ValueError):
            return DEFAULT_REFUSE_SECONDS

    def _on_revive(self, fw: _Framework, call: dict[str, Any]) -> None:
        fw.filters = []
        fw.suppressed = False
        self._wake.set()

    def _on_suppress(self, fw: _Framework, call: dict[str, Any]) -> None:
        fw.suppressed = True

    def _on_accept(self, fw: _Framework, call: dict[str, Any]) -> None:
        accept = call.get("accept") or {}
        offers: list[_Offer] = []
        error = None
        for oid in accept.get("offer_ids") or []:
            value = (oid or {}).get("value")
            offer = self._offers.get(value)
            if offer is None or offer.framework_id != fw.id:
                error = f"Offer {value} is no longer valid"
            else:
                offers.append(offer)
        if not offers and not error:
            error = "No offers given"
        if offers and len({o.agent.id for o in offers}) > 1:
            error = "Aggregated offers must belong to one single agent"
        for offer in offers:
            self._release_offer(offer)
        task_infos = []
        for op in accept.get("operations") or []:
            if op.get("type") == "LAUNCH":
                task_infos.extend((op.get("launch") or {}).get("task_infos") or [])
            elif op.get("type") == "LAUNCH_GROUP":
                group = ((op.get("launch_group") or {}).get("task_group") or {}).get("tasks") or []
                for ti in group:
                    self._reject(
                        fw,
                        ti,
                        None,
                        "TASK_ERROR",
                        "REASON_TASK_INVALID",
                        "LAUNCH_GROUP is not supported by the local cluster",
                    )
            else:
                log.warning("ignoring unsupported %s operation from framework %s", op.get("type"), fw.id)
        if error:
            for ti in task_infos:
                self._reject(
                    fw, ti, None, "TASK_LOST", "REASON_INVALID_OFFERS", f"Task launched with invalid offers: {error}"
                )
            return
        agent = offers[0].agent
        pool: dict[str, float] = {}
        for offer in offers:
            pool = _add(pool, offer.resources)
        for ti in task_infos:
            pool = self._launch(fw, agent, ti, pool)
        refuse = self._refuse_seconds(accept.get("filters"))
        if refuse > 0 and _allocatable(pool):
            fw.filters.append((agent.id, pool, time.monotonic() + refuse))

    def _launch(self, fw: _Framework, agent: _Agent, ti: dict[str, Any], pool: dict[str, float]) -> dict[str, float]:
        """Validate one TaskInfo against the remaining offered resources; queue it; return what is left."""
        task_id = (ti.get("task_id") or {}).get("value")
        problem = _validate_id(task_id)
        if problem:
            self._reject(fw, ti, agent, "TASK_ERROR", "REASON_TASK_INVALID", f"Task has invalid ID: {problem}")
            return pool
        if task_id in self._tasks:
            self._reject(fw, ti, agent, "TASK_ERROR", "REASON_TASK_INVALID", f"Task has duplicate ID: {task_id}")
            return pool
        agent_id = (ti.get("agent_id") or ti.get("slave_id") or {}).get("value")
        resources, problems = _parse_resources(ti.get("resources") or [])
        command = ti.get("command")
        if agent_id != agent.id:
            problems.append(f"Task uses agent {agent_id} but the offers are from agent {agent.id}")
        if "executor" in ti:
            problems.append("Custom executors are not supported by the local cluster (use a command task)")
        elif not isinstance(command, dict) or not (command.get("value") or command.get("arguments")):
            problems.append("Task has no command")
        if not resources or not any(v > 0 for v in resources.values()):
            problems.append("Task uses no resources")
        elif not _contains(pool, resources):
            problems.append(f"Task uses more resources {resources} than available {pool}")
        if problems:
            self._reject(fw, ti, agent, "TASK_ERROR", "REASON_TASK_INVALID", "; ".join(problems))
            return pool
        user = (command or {}).get("user") or fw.info.get("user") or ""
        if not _user_exists(user):  # an agent switching to the framework's user cannot create the sandbox
            self._reject(
                fw,
                ti,
                agent,
                "TASK_FAILED",
                "REASON_EXECUTOR_TERMINATED",
                f"Failed to create sandbox: user '{user}' does not exist on agent {agent.hostname}",
            )
            return pool
        task = _Task(task_id, fw.id, agent, agent.id, ti, resources)
        task.holds_resources = True
        agent.used = _add(agent.used, resources)
        self._tasks[task_id] = task
        self._launch_queue.put(task)
        return _sub(pool, resources)

    def _reject(
        self, fw: _Framework, ti: dict[str, Any], agent: _Agent | None, state: str, reason: str, message: str
    ) -> None:
        task_id = (ti.get("task_id") or {}).get("value")
        agent_id = agent.id if agent is not None else (ti.get("agent_id") or {}).get("value", "")
        log.warning("task %s rejected: %s", task_id, message)
        if isinstance(task_id, str) and task_id and task_id not in self._tasks:
            task = _Task(task_id, fw.id, None, agent_id, ti, {})
            self._tasks[task_id] = task
            self._update(task, state, message, SOURCE_MASTER, reason)
        elif fw.stream is not None:  # duplicate or unusable id: a one-off answer
            status = {
                "task_id": {"value": task_id if isinstance(task_id, str) else ""},
                "state": state,
                "agent_id": {"value": agent_id},
                "source": SOURCE_MASTER,
                "reason": reason,
                "message": message,
                "timestamp": time.time(),
            }
            fw.stream.send({"type": "UPDATE", "update": {"status": status}})

    def _on_kill(self, fw: _Framework, call: dict[str, Any]) -> None:
        kill = call.get("kill") or {}
        task_id = (kill.get("task_id") or {}).get("value")
        task = self._tasks.get(task_id)
        if task is None or task.framework_id != fw.id:
            agent_id = (kill.get("agent_id") or {}).get("value", "")
            self._send_once(
                fw, task_id, agent_id, "TASK_LOST", "REASON_RECONCILIATION", "Attempted to kill an unknown task"
            )
            return
        if task.state in TERMINAL_STATES:
            return
        grace = self._grace(kill.get("kill_policy")) or self._grace(task.info.get("kill_policy"))
        if fw.has_capability("TASK_KILLING_STATE") and task.state == "TASK_RUNNING":
            self._update(task, "TASK_KILLING", None, SOURCE_EXECUTOR)
        self._kill(task, self.kill_grace if grace is None else grace)

    @staticmethod
    def _grace(policy: dict[str, Any] | None) -> float | None:
        try:
            ns = ((policy or {}).get("grace_period") or {}).get("nanoseconds")
            return None if ns is None else max(0.0, int(ns) / 1e9)
        except (TypeError, ValueError):
            return None

    def _on_acknowledge(self, fw: _Framework, call: dict[str, Any]) -> None:
        ack = call.get("acknowledge") or {}
        task = self._tasks.get((ack.get("task_id") or {}).get("value"))
        if task is None or task.framework_id != fw.id or not task.pending:
            return
        if task.pending[0].get("uuid") != ack.get("uuid"):
            log.debug("ignoring acknowledgement of task %s with an unexpected uuid", task.id)
            return
        task.pending.popleft()
        if task.pending:
            self._deliver(fw, task)
        elif task.state in TERMINAL_STATES:
            self._complete(task)

    def _on_reconcile(self, fw: _Framework, call: dict[str, Any]) -> None:
        wanted = (call.get("reconcile") or {}).get("tasks") or []
        if not wanted:
            for task in [t for t in self._tasks.values() if t.framework_id == fw.id]:
                self._send_reconciled(fw, task)
            return
        for item in wanted:
            task_id = (item.get("task_id") or {}).get("value")
            task = self._tasks.get(task_id) or self._completed.get(task_id)
            if task is not None and task.framework_id == fw.id:
                self._send_reconciled(fw, task)
            else:
                agent_id = (item.get("agent_id") or {}).get("value", "")
                self._send_once(
                    fw, task_id, agent_id, "TASK_LOST", "REASON_RECONCILIATION", "Reconciliation: Task is unknown"
                )

    def _send_reconciled(self, fw: _Framework, task: _Task) -> None:
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

    def _send_once(self, fw: _Framework, task_id: Any, agent_id: str, state: str, reason: str, message: str) -> None:
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

    # ----------------------------------------------------------------- task state (under self._lock)

    def _update(self, task: _Task, state: str, message: str | None, source: str, reason: str | None = None) -> None:
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
        task.state = state
        task.status = status
        log.info("task %s -> %s%s", task.id, state, f" ({message})" if message else "")
        if state in TERMINAL_STATES and task.holds_resources:
            task.holds_resources = False
            if task.agent is not None:
                task.agent.used = _sub(task.agent.used, task.resources)
            self._wake.set()
        fw = self._frameworks.get(task.framework_id)
        if fw is None:
            if state in TERMINAL_STATES:
                self._complete(task)
            return
        task.pending.append(status)
        if len(task.pending) == 1:
            self._deliver(fw, task)

    def _deliver(self, fw: _Framework, task: _Task) -> None:
        task.last_sent = time.monotonic()
        if fw.stream is not None and task.pending:
            fw.stream.send({"type": "UPDATE", "update": {"status": task.pending[0]}})

    def _complete(self, task: _Task) -> None:
        if self._tasks.get(task.id) is task:
            del self._tasks[task.id]
            self.checkpoint.remove_task(task.id)
        task.pending.clear()
        self._completed[task.id] = task
        self._completed.move_to_end(task.id)
        while len(self._completed) > MAX_COMPLETED_TASKS:
            self._completed.popitem(last=False)

    def _signal(self, task: _Task, sig: int) -> None:
        if task.pid is None or task.exited:
            return
        try:
            os.killpg(task.pid, sig)
        except (ProcessLookupError, PermissionError):
            pass

    def _kill(self, task: _Task, grace: float) -> None:
        if not task.kill_requested:
            task.kill_requested = True
            self.checkpoint.mark(task.id, "killed")
        if task.pid is None or task.exited:
            return  # not started yet: the launcher sees kill_requested
        self._signal(task, signal.SIGTERM)
        if task.kill_timer is None:

            def force() -> None:
                with self._lock:
                    self._signal(task, signal.SIGKILL)

            task.kill_timer = threading.Timer(grace, force)
            task.kill_timer.daemon = True
            task.kill_timer.start()

    # ----------------------------------------------------------------- running tasks

    def _launcher_loop(self) -> None:
        while True:
            task = self._launch_queue.get()
            if task is None or self._stopping.is_set():
                return
            try:
                self._spawn(task)
            except Exception:  # never let one task stop the launcher
                log.exception("launching task %s failed", task.id)
                with self._lock:
                    if task.state not in TERMINAL_STATES:
                        self._update(task, "TASK_FAILED", "Failed to launch command: internal error", SOURCE_EXECUTOR)

    def _spawn(self, task: _Task) -> None:
        with self._lock:
            if task.state != "TASK_STAGING":
                return
            if task.kill_requested:
                self._update(task, "TASK_KILLED", "Task killed before it was launched", SOURCE_EXECUTOR)
                return
            framework_id = task.framework_id
        command = task.info.get("command") or {}
        shell = command.get("shell", True)  # CommandInfo.shell defaults to true in Mesos
        if shell:
            argv = ["/bin/sh", "-c", str(command.get("value", ""))]
            executable = "/bin/sh"
        else:
            argv = [str(a) for a in command.get("arguments") or []]
            executable = str(command.get("value") or (argv[0] if argv else ""))
            if not argv:
                argv = [executable]
        sandbox = self.sandbox_root / task.id
        env = task_base_environment()  # as an agent gives it: never the cluster's own (venv PATH, database URL)
        for var in (command.get("environment") or {}).get("variables") or []:
            if var.get("type", "VALUE") == "VALUE" and var.get("name"):
                env[str(var["name"])] = str(var.get("value", ""))
        env.update(
            {
                "MESOS_SANDBOX": str(sandbox),
                "MESOS_DIRECTORY": str(sandbox),
                "MESOS_TASK_ID": task.id,
                "MESOS_AGENT_ID": task.agent_id,
                "MESOS_FRAMEWORK_ID": framework_id,
            }
        )
        error = None
        proc = None
        ready_r, ready_w = os.pipe()
        status_file = self.checkpoint.exit_status_path(task.id)
        wrapper = [sys.executable, "-I", "-S", str(WRAPPER), str(status_file), str(ready_w), executable, *argv]
        try:
            sandbox.mkdir(parents=True, exist_ok=True)
            status_file.parent.mkdir(parents=True, exist_ok=True)
            with open(sandbox / "stdout", "wb") as out, open(sandbox / "stderr", "wb") as err:
                try:
                    proc = subprocess.Popen(
                        wrapper,
                        shell=False,
                        cwd=sandbox,
                        env=env,
                        stdin=subprocess.DEVNULL,
                        stdout=out,
                        stderr=err,
                        start_new_session=True,
                        close_fds=True,
                        pass_fds=(ready_w,),
                    )
                except (OSError, ValueError) as exc:
                    error = f"Failed to launch command: {exc}"
                    err.write((error + "\n").encode("utf-8", "replace"))
        except OSError as exc:
            error = f"Failed to create the sandbox {sandbox}: {exc}"
        finally:
            os.close(ready_w)
        if proc is not None:
            self._checkpoint_task(task, proc.pid, sandbox)
        with self._lock:
            task.sandbox = sandbox
            if proc is None:
                os.close(ready_r)
                task.exited = True
                if task.state not in TERMINAL_STATES:
                    self._update(task, "TASK_FAILED", error, SOURCE_EXECUTOR)
                return
            task.proc = proc
            task.pid = proc.pid
            log.debug("task %s started as pid %d: %r", task.id, proc.pid, argv)
            if task.state in TERMINAL_STATES or self._stopping.is_set():
                self._signal(task, signal.SIGKILL)  # lost (or stopping) while it was being started
        threading.Thread(target=self._wait, args=(task, proc, ready_r), name=f"task-{task.id}", daemon=True).start()

    def _checkpoint_task(self, task: _Task, pid: int, sandbox: Path) -> None:
        record = {
            "framework_id": task.framework_id,
            "agent_id": task.agent_id,
            "info": task.info,
            "resources": task.resources,
            "sandbox": str(sandbox),
            "pid": pid,
            "started": process_start_time(pid),
        }
        try:
            self.checkpoint.save_task(task.id, record)
        except Exception:  # the task runs on; a restart would kill it as unaccounted for
            log.exception("could not checkpoint task %s", task.id)

    def _wait(self, task: _Task, proc: subprocess.Popen, ready: int) -> None:
        """Report the command started (or could not), then its end; the wrapper's exit is the command's."""
        with os.fdopen(ready, "rb") as pipe:
            started = pipe.read()
        with self._lock:
            if started == b"+" and task.state not in TERMINAL_STATES and not self._stopping.is_set():
                self._update(task, "TASK_RUNNING", None, SOURCE_EXECUTOR)
                if task.kill_requested:
                    self._kill(task, self.kill_grace)
        launch_error = started[1:].decode("utf-8", "replace") if started.startswith(b"-") else None
        self._ended(task, proc.wait(), launch_error)

    def _watch_adopted(self, task: _Task, pid: int) -> None:
        wait_for_exit(pid)
        try:
            returncode: int | None = int(self.checkpoint.exit_status_path(task.id).read_text())
        except (OSError, ValueError):
            returncode = None
        self._ended(task, returncode)

    def _ended(self, task: _Task, returncode: int | None, launch_error: str | None = None) -> None:
        with self._lock:
            # Whatever is left of the task's process group goes with it (as Mesos kills the container).
            if task.pid is not None and not task.exited:
                try:
                    os.killpg(task.pid, signal.SIGKILL)
                except (ProcessLookupError, PermissionError):
                    pass
            task.exited = True
            if task.kill_timer is not None:
                task.kill_timer.cancel()
            if task.state in TERMINAL_STATES or self._stopping.is_set():
                return
            reason = None
            if launch_error is not None:
                state, message = "TASK_FAILED", f"Failed to launch command: {launch_error}"
            elif returncode is None:  # an adopted task's wrapper was killed outright: no exit status
                state, message = "TASK_FAILED", "Command ended without an exit status while the agent was down"
                reason = "REASON_EXECUTOR_TERMINATED"
            else:
                message = _describe_exit(returncode)
                state = "TASK_FINISHED" if returncode == 0 else "TASK_FAILED"
            if task.kill_requested and launch_error is None:
                state, reason = "TASK_KILLED", None
            self._update(task, state, message, SOURCE_EXECUTOR, reason)

    # ----------------------------------------------------------------- recovery (at start, before serving)

    def _recover(self) -> set[str]:
        """Take back what the checkpoint holds; the ids of the tasks still running, now watched again."""
        now = time.monotonic()
        for framework_id, info in self.checkpoint.frameworks().items():
            fw = self._frameworks[framework_id] = _Framework(framework_id, info)
            fw.disconnected_at = now  # it has failover_timeout seconds to re-subscribe, as after a disconnection
        adopted = set()
        for found in self.checkpoint.recovered_tasks():
            fw = self._frameworks.get(found.framework_id)
            agent = self._agents.get(found.agent_id)
            if fw is None or agent is None:
                log.warning("task %s belongs to a framework or agent that is gone; killing it", found.task_id)
                if found.alive:
                    self._kill_recovered(found)
                self.checkpoint.remove_task(found.task_id)
                continue
            task = _Task(found.task_id, found.framework_id, agent, found.agent_id, found.info, found.resources)
            task.sandbox = found.sandbox
            task.kill_requested = found.killed
            self._tasks[task.id] = task
            if found.alive and not found.shutdown:
                task.pid = found.pid
                self._adopt(task)
                adopted.add(task.id)
            else:
                if found.alive:
                    self._kill_recovered(found)
                self._report_recovered(fw, task, found)
        return adopted

    def _adopt(self, task: _Task) -> None:
        assert task.agent is not None and task.pid is not None
        task.holds_resources = True
        task.agent.used = _add(task.agent.used, task.resources)
        log.info("task %s (pid %d) is still running; recovered it", task.id, task.pid)
        self._update(task, "TASK_RUNNING", None, SOURCE_EXECUTOR)  # may repeat one the framework has
        if task.kill_requested:
            self._kill(task, self.kill_grace)
        pid = task.pid
        threading.Thread(target=self._watch_adopted, args=(task, pid), name=f"task-{task.id}", daemon=True).start()

    @staticmethod
    def _kill_recovered(found: RecoveredTask) -> None:
        try:
            os.killpg(found.pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass

    def _report_recovered(self, fw: _Framework, task: _Task, found: RecoveredTask) -> None:
        """The terminal update of a task that ended while no cluster watched it."""
        task.exited = True
        if found.shutdown or not found.same_boot:
            # The agent's own stop (or the machine's restart) ended it: not the task's doing.
            state = "TASK_GONE" if fw.has_capability("PARTITION_AWARE") else "TASK_LOST"
            why = "the agent was stopped" if found.shutdown else "the machine restarted"
            message = f"Task killed because {why}; the agent restarted"
            self._update(task, state, message, SOURCE_EXECUTOR, "REASON_AGENT_RESTARTED")
        else:
            self._ended(task, found.exit_code)

    # ----------------------------------------------------------------- allocation

    def _allocator_loop(self) -> None:
        while not self._stopping.is_set():
            self._wake.wait(self.offer_interval)
            self._wake.clear()
            if self._stopping.is_set():
                return
            try:
                with self._lock:
                    self._expire_frameworks()
                    self._retry_updates()
                    self._allocate()
            except Exception:
                log.exception("allocation round failed")

    def _expire_frameworks(self) -> None:
        now = time.monotonic()
        for fw in list(self._frameworks.values()):
            if fw.stream is None and fw.disconnected_at is not None and now - fw.disconnected_at >= fw.failover_timeout:
                log.info("framework %s did not re-subscribe within its failover timeout; removing it", fw.id)
                self._remove_framework(fw)

    def _retry_updates(self) -> None:
        now = time.monotonic()
        for task in self._tasks.values():
            if task.pending and now - task.last_sent >= self.retry_interval:
                fw = self._frameworks.get(task.framework_id)
                if fw is not None and fw.stream is not None:
                    log.debug("resending unacknowledged %s of task %s", task.pending[0]["state"], task.id)
                    self._deliver(fw, task)

    def _allocate(self) -> None:
        frameworks = [fw for fw in self._frameworks.values() if fw.stream is not None and not fw.suppressed]
        if not frameworks:
            return
        now = time.monotonic()
        batches: dict[str, list[dict[str, Any]]] = {}
        for agent in self._agents.values():
            available = agent.available()
            if not _allocatable(available):
                continue
            for k in range(len(frameworks)):
                fw = frameworks[(self._round_robin + k) % len(frameworks)]
                if fw.refuses(agent.id, available, now):
                    continue
                self._round_robin += 1
                offer = _Offer(f"{self.master_id}-O{next(self._offer_numbers)}", fw.id, agent, available)
                self._offers[offer.id] = offer
                agent.offered = _add(agent.offered, available)
                batches.setdefault(fw.id, []).append(self._offer_json(offer))
                break
        for fw_id, offers in batches.items():
            self._frameworks[fw_id].stream.send({"type": "OFFERS", "offers": {"offers": offers}})  # type: ignore[union-attr]

    def _offer_json(self, offer: _Offer) -> dict[str, Any]:
        agent = offer.agent
        data: dict[str, Any] = {
            "id": {"value": offer.id},
            "framework_id": {"value": offer.framework_id},
            "agent_id": {"value": agent.id},
            "hostname": agent.hostname,
            "url": {
                "scheme": "http",
                "address": {"hostname": agent.hostname, "ip": self.advertised_ip, "port": self.port},
                "path": f"/slave({agent.number + 1})",
            },
            "resources": _resources_json(offer.resources),
        }
        if agent.attributes:
            data["attributes"] = _attributes_json(agent.attributes)
        return data

    # ----------------------------------------------------------------- state

    def _task_state(self, task: _Task) -> dict[str, Any]:
        return {
            "id": task.id,
            "name": task.name,
            "framework_id": task.framework_id,
            "slave_id": task.agent_id,
            "state": task.state,
            "resources": {n: task.resources.get(n, 0.0) for n in RESOURCE_NAMES},
            "sandbox": str(task.sandbox) if task.sandbox else None,
            "pid": task.pid if not task.exited else None,
            "statuses": [task.status] if task.status else [],
        }

    def state(self) -> dict[str, Any]:
        """A minimal version of Mesos' /master/state."""
        with self._lock:
            frameworks = []
            for fw in self._frameworks.values():
                frameworks.append(
                    {
                        "id": fw.id,
                        "name": fw.info.get("name", ""),
                        "role": fw.info.get("role", "*"),
                        "active": fw.stream is not None,
                        "connected": fw.stream is not None,
                        "failover_timeout": fw.failover_timeout,
                        "offers": [
                            {"id": o.id, "slave_id": o.agent.id, "resources": dict(o.resources)}
                            for o in self._offers.values()
                            if o.framework_id == fw.id
                        ],
                        "tasks": [self._task_state(t) for t in self._tasks.values() if t.framework_id == fw.id],
                        "completed_tasks": [
                            self._task_state(t)
                            for t in list(self._completed.values())[-1000:]
                            if t.framework_id == fw.id
                        ],
                    }
                )
            return {
                "version": MESOS_VERSION,
                "id": self.master_id,
                "pid": f"master@{self.advertised_ip}:{self.port}",
                "hostname": self.base_hostname,
                "start_time": self.started_at,
                "leader": f"master@{self.advertised_ip}:{self.port}",
                "activated_slaves": len(self._agents),
                "deactivated_slaves": 0,
                "slaves": [self._agent_state(a) for a in self._agents.values()],
                "frameworks": frameworks,
                "completed_frameworks": [],
            }


# --------------------------------------------------------------------------- CLI


def main(argv: list[str] | None = None) -> int:
    from app.settings import settings

    settings.check()
    parser = argparse.ArgumentParser(
        prog="python -m workers.local_cluster",
        description="A Mesos master plus agents on this machine, serving the v1 scheduler API.",
    )
    parser.add_argument(
        "--host",
        default="127.0.0.1",
        help="address to bind (default 127.0.0.1; tasks run arbitrary commands, keep it local)",
    )
    parser.add_argument("--port", type=int, default=settings.LOCAL_CLUSTER_PORT)
    parser.add_argument("--agents", type=int, default=settings.LOCAL_CLUSTER_AGENTS)
    parser.add_argument(
        "--cpus", type=float, default=settings.LOCAL_CLUSTER_CPUS, help="per agent; 0 derives from this machine"
    )
    parser.add_argument(
        "--mem", type=float, default=settings.LOCAL_CLUSTER_MEM, help="MiB per agent; 0 derives from this machine"
    )
    parser.add_argument(
        "--disk",
        type=float,
        default=settings.LOCAL_CLUSTER_DISK,
        help="MiB per agent; 0 derives from SCALE_VAR_DIR's free space",
    )
    parser.add_argument("--attributes", default="", help='agent attributes in Mesos syntax, e.g. "rack:a;zone:1"')
    parser.add_argument("--heartbeat-interval", type=float, default=15.0)
    args = parser.parse_args(argv)

    logging.basicConfig(
        level=getattr(logging, str(settings.LOG_LEVEL).upper(), logging.INFO),
        stream=sys.stderr,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    cluster = LocalCluster(
        port=args.port,
        agents=args.agents,
        host=args.host,
        cpus=args.cpus,
        mem=args.mem,
        disk=args.disk,
        attributes=parse_attributes(args.attributes),
        heartbeat_interval=args.heartbeat_interval,
    )
    stop = threading.Event()

    def on_signal(signum: int, frame: Any) -> None:
        log.info("received %s; stopping", signal.Signals(signum).name)
        stop.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    try:
        cluster.start()
    except (RuntimeError, OSError) as exc:  # the port or the var dir is taken
        log.error("cannot start the local cluster: %s", exc)
        return 1
    try:
        while not stop.wait(1.0):
            pass
    finally:
        cluster.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
