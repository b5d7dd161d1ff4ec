"""LocalCluster: the master, its allocator, the agents' task executor and the HTTP server, started and
stopped together. See the package docstring for what it speaks and how it behaves."""

from __future__ import annotations

import itertools
import logging
import os
import socket
import threading
import time
import uuid
from pathlib import Path
from typing import Any

from app.mesos import RESOURCE_NAMES
from workers.local_cluster import containers
from workers.local_cluster.agent_http import AgentServer
from workers.local_cluster.allocator import Allocator
from workers.local_cluster.checkpoint import Checkpoint, kill_orphans
from workers.local_cluster.executor import TaskExecutor
from workers.local_cluster.http_api import Server
from workers.local_cluster.master import Master
from workers.local_cluster.model import Agent
from workers.local_cluster.resources import (
    DEFAULT_PORTS,
    machine_resources,
    parse_attributes,
    parse_resource_text,
    port_of,
    port_resources,
)

log = logging.getLogger(__name__)


class LocalCluster:
    """A Mesos master plus agents on this machine.

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
        test_routes: bool | None = None,
        allow_shell: bool | None = None,
        memory_limits: bool | None = None,
        credentials: tuple[str, str] | None = None,
    ) -> None:
        from app.settings import settings

        self.test_routes = settings.LOCAL_CLUSTER_TEST_ROUTES if test_routes is None else test_routes
        # (principal, secret) every caller must present; from MESOS_PRINCIPAL/MESOS_SECRET unless given
        configured = (settings.MESOS_PRINCIPAL, settings.MESOS_SECRET)
        self.credentials = credentials if credentials is not None else configured if all(configured) else None

        self.host = host
        self._requested_port = settings.LOCAL_CLUSTER_PORT if port is None else int(port)
        self.var_dir = Path(var_dir if var_dir is not None else settings.SCALE_VAR_DIR)
        self.sandbox_root = (self.var_dir / "sandboxes").resolve()  # absolute: tasks find it from anywhere
        self.kill_grace = float(kill_grace)
        self.base_hostname = hostname or socket.gethostname()
        self.default_attributes = dict(attributes or {})

        if agents is None:
            agents = settings.LOCAL_CLUSTER_AGENTS
        specs = [{} for _ in range(max(0, int(agents)))] if isinstance(agents, int) else [dict(a) for a in agents]
        cpus = settings.LOCAL_CLUSTER_CPUS if cpus is None else cpus
        mem = settings.LOCAL_CLUSTER_MEM if mem is None else mem
        disk = settings.LOCAL_CLUSTER_DISK if disk is None else disk
        derived = machine_resources(self.var_dir, max(1, len(specs))) if not (cpus and mem and disk) else {}
        self.default_resources = {
            "cpus": float(cpus or derived["cpus"]),
            "mem": float(mem or derived["mem"]),
            "disk": float(disk or derived["disk"]),
        }
        self.resource_text = settings.LOCAL_CLUSTER_RESOURCES
        parse_resource_text(self.resource_text)  # a typo stops the start, not the first agent
        self._single_agent = len(specs) <= 1  # a lone agent takes this machine's hostname

        self.checkpoint = Checkpoint(self.var_dir)
        self._agent_ids = self.checkpoint.agent_ids()  # agent number -> id, kept across restarts
        self._agent_ports = self.checkpoint.agent_ports()  # agent number -> port, kept likewise
        self._agent_numbers = itertools.count()
        self.master = Master(
            master_id=str(uuid.uuid4()),
            hostname=self.base_hostname,
            checkpoint=self.checkpoint,
            heartbeat_interval=float(heartbeat_interval),
            retry_interval=float(retry_interval),
            kill_grace=self.kill_grace,
        )
        self.master.advertised_ip = "127.0.0.1" if host in ("", "0.0.0.0", "::") else host
        self.master.port = self._requested_port
        self.executor = TaskExecutor(self.master, self.sandbox_root, self.kill_grace)
        self.executor.memory_limits = settings.LOCAL_CLUSTER_MEMORY_LIMITS if memory_limits is None else memory_limits
        self.master.runner = self.executor
        self.master.allow_shell = settings.LOCAL_CLUSTER_ALLOW_SHELL if allow_shell is None else allow_shell
        interval = float(settings.LOCAL_CLUSTER_OFFER_INTERVAL if offer_interval is None else offer_interval)
        self.allocator = Allocator(self.master, interval)
        self._server: Server | None = None
        self._agent_servers: dict[str, AgentServer] = {}
        self._threads: list[threading.Thread] = []
        for spec in specs:
            self.master.add_agent(self._new_agent(spec))

    # ----------------------------------------------------------------- lifecycle

    @property
    def port(self) -> int:
        return self.master.port

    @property
    def address(self) -> str:
        """`host:port`, the form pymesos' master_uri and the MESOS_MASTER setting take."""
        return self.master.address

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
            adopted = self.executor.recover()
            # Before anyone can ask about them: a process no checkpoint accounts for is killed.
            kill_orphans(self.sandbox_root, keep=adopted)
            if any(self.sandbox_root.iterdir()):  # a cluster ran here before: it may have left containers
                containers.sweep(self.sandbox_root, keep=adopted)
            self._server = Server((self.host, self._requested_port), self)
            with self.master.lock:
                for agent in self.master.agents.values():
                    self._serve_agent(agent)
        except BaseException:
            self._stop_agent_servers()
            self.checkpoint.unlock()
            raise
        self.master.port = self._server.server_address[1]
        self.master.started_at = time.time()
        server = self._server
        for target, name in (
            (lambda: server.serve_forever(poll_interval=0.05), "local-cluster-http"),
            (self.allocator.run, "local-cluster-allocator"),
            (self.executor.run, "local-cluster-launcher"),
            (self.executor.watch_memory, "local-cluster-memory"),
        ):
            t = threading.Thread(target=target, name=name, daemon=True)
            t.start()
            self._threads.append(t)
        with self.master.lock:
            agents = list(self.master.agents.values())
        summary = ", ".join(f"{a.hostname} {a.total}" for a in agents)
        log.info("local cluster listening on %s with %d agent(s): %s", self.url, len(agents), summary)
        return self

    def stop(self, grace: float | None = None) -> None:
        """Stop serving, close the event streams, and kill every task (SIGTERM, then SIGKILL).

        The tasks killed are checkpointed as the cluster's doing: the next start reports them lost, so a
        scheduler runs them again without counting a try against the job."""
        master = self.master
        if self._server is None or master.stopping.is_set():
            return
        master.stopping.set()
        master.wake.set()
        self._server.shutdown()
        self._server.server_close()
        with master.lock:
            for fw in master.frameworks.values():
                if fw.stream is not None:
                    fw.stream.close()
        self.executor.stop(self.kill_grace if grace is None else grace)
        self._server.close_connections()
        self._stop_agent_servers()
        for t in self._threads:
            t.join(timeout=5)
        self.checkpoint.unlock()
        log.info("local cluster stopped")

    def __enter__(self) -> "LocalCluster":
        return self.start()

    def __exit__(self, *exc: Any) -> None:
        self.stop()

    # ----------------------------------------------------------------- agents

    def _new_agent(self, spec: dict[str, Any]) -> Agent:
        """An agent from a spec; hostname, resources and attributes default to the cluster's."""
        number = next(self._agent_numbers)
        hostname = spec.get("hostname")
        if not hostname:
            in_use = {a.hostname for a in self.master.agents.values()}
            if self._single_agent and self.base_hostname not in in_use:
                hostname = self.base_hostname
            else:
                n = 1
                while f"{self.base_hostname}-{n}" in in_use:
                    n += 1
                hostname = f"{self.base_hostname}-{n}"
        text = spec.get("resources") or self.resource_text
        if text:
            total = parse_resource_text(text)
        else:
            total = {name: float(spec.get(name) or self.default_resources[name]) for name in RESOURCE_NAMES}
        if not any(port_of(key) is not None for key in total):  # as a Mesos agent adds its default ports
            total.update(port_resources([DEFAULT_PORTS], None, "default ports"))
        attributes = spec.get("attributes")
        if attributes is None:
            attributes = self.default_attributes
        elif isinstance(attributes, str):
            attributes = parse_attributes(attributes)
        agent_id = self._agent_ids.setdefault(number, f"{self.master.id}-S{number}")
        agent = Agent(agent_id, number, hostname, total, attributes)
        agent.work_dir = self.sandbox_root / f"agent-{number}"  # each agent its own, as on separate machines
        return agent

    def _serve_agent(self, agent: Agent) -> None:
        """Start the agent's own HTTP endpoint (files/read) on a port of its own."""
        assert agent.work_dir is not None
        agent.work_dir.mkdir(parents=True, exist_ok=True)
        port = self._agent_ports.get(agent.number, 0)  # its port before a restart: executions name it
        try:
            server = AgentServer((self.host, port), agent.id, agent.hostname, agent.work_dir, self.credentials)
        except OSError as exc:
            log.warning("agent %s cannot listen on its port %d again (%s); it takes a new one", agent.id, port, exc)
            server = AgentServer((self.host, 0), agent.id, agent.hostname, agent.work_dir, self.credentials)
        agent.port = self._agent_ports[agent.number] = server.port
        self.checkpoint.save_agent_ports(self._agent_ports)
        self._agent_servers[agent.id] = server.start()

    def _stop_agent_servers(self, *agent_ids: str) -> None:
        for agent_id in agent_ids or list(self._agent_servers):
            server = self._agent_servers.pop(agent_id, None)
            if server is not None:
                server.stop()

    def add_agent(self, **spec: Any) -> str:
        """Add an agent (hostname, cpus, mem, disk or `resources` in Mesos' text syntax, attributes); returns its id."""
        with self.master.lock:
            agent = self._new_agent(spec)
            if self._server is not None:
                self._serve_agent(agent)
                self.checkpoint.save_agent_ids(self._agent_ids)
            self.master.add_agent(agent)
        log.info("agent %s (%s) added with %s", agent.id, agent.hostname, agent.total)
        return agent.id

    def remove_agent(self, agent_id: str) -> list[str]:
        """Remove an agent as if it were lost; returns the ids of the tasks reported TASK_LOST."""
        with self.master.lock:
            agent, lost = self.master.remove_agent(agent_id)
            self._agent_ids.pop(agent.number, None)  # a removed agent that comes back is a new agent
            self._agent_ports.pop(agent.number, None)
            self.checkpoint.save_agent_ids(self._agent_ids)
            self.checkpoint.save_agent_ports(self._agent_ports)
        self._stop_agent_servers(agent_id)  # its machine is gone: so are its files
        log.info("agent %s removed; tasks lost: %s", agent_id, lost)
        return lost

    def restart_agent(self, agent_id: str) -> tuple[str, list[str]]:
        """The agent comes back with a new id, as a Mesos agent does after a reboot or with its metadata
        wiped: the master removes the old one (its tasks TASK_LOST, a FAILURE event) and the same host,
        work directory and port register again. Returns (the new id, the tasks lost)."""
        with self.master.lock:
            old = self.master.agents[agent_id]
            old_port = old.port
        lost = self.remove_agent(agent_id)
        with self.master.lock:
            agent = self._new_agent({"hostname": old.hostname, "attributes": dict(old.attributes)})
            agent.total, agent.work_dir = dict(old.total), old.work_dir
            if self._server is not None:
                self._agent_ports[agent.number] = old_port
                self._serve_agent(agent)
                self.checkpoint.save_agent_ids(self._agent_ids)
            self.master.add_agent(agent)
        log.info("agent %s (%s) restarted as %s", agent_id, agent.hostname, agent.id)
        return agent.id, lost

    def partition_agent(self, agent_id: str) -> list[str]:
        """Cut an agent off (its tasks run on, reported TASK_LOST); `heal_agent` brings it back."""
        return self.master.partition_agent(agent_id)

    def heal_agent(self, agent_id: str) -> None:
        self.master.heal_agent(agent_id)

    def agents(self) -> list[dict[str, Any]]:
        with self.master.lock:
            return [self.master.agent_state(a) for a in self.master.agents.values()]

    def state(self) -> dict[str, Any]:
        """A minimal version of Mesos' /master/state."""
        return self.master.state()
