"""Every setting of the system, declared once with its type, default and meaning.

Values come from the environment (same name). `settings.NAME` reads the current value, so
tests can change the environment and call `settings.reload()`. The README's configuration
table is generated from this registry (`python -m app.settings`).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

ROOT = Path(__file__).resolve().parent.parent


def _bool(value: str) -> bool:
    return value.strip().lower() in ("1", "true", "t", "yes", "y", "on")


@dataclass(frozen=True)
class Setting:
    name: str
    type: Callable[[str], Any]
    default: Any
    doc: str


REGISTRY: list[Setting] = [
    Setting(
        "SCALE_VAR_DIR",
        str,
        str(ROOT / "var"),
        "Directory for the embedded database, execution sandboxes, logs and local workspaces.",
    ),
    Setting("DATABASE_URL", str, "", "SQLAlchemy URL. Empty means SQLite at $SCALE_VAR_DIR/scale.db."),
    Setting("REDIS_URL", str, "redis://127.0.0.1:6379/0", "Redis used as the Celery broker and for scheduler status."),
    Setting(
        "CELERY_RESULT_BACKEND",
        str,
        "",
        "Celery result backend; empty disables results (tasks report through the database).",
    ),
    Setting("API_HOST", str, "127.0.0.1", "Address the API (gunicorn) binds."),
    Setting("API_PORT", int, 8000, "Port of the REST API."),
    Setting(
        "API_ALLOWED_HOSTS",
        str,
        "",
        "Comma-separated host names the API answers to (the Host header); empty: loopback names only while API_HOST is a loopback address (against DNS rebinding), any otherwise.",
    ),
    Setting(
        "API_MAX_BODY_BYTES",
        int,
        16 * 2**20,
        "Largest request body the API reads; a larger one is a 413 before it is read.",
    ),
    Setting(
        "API_AUTH",
        bool,
        False,
        "Require a bearer token (roles viewer, operator, admin) on every route but the OpenAPI document; "
        "`python -m app.tokens create --role admin` makes the first. Required when API_HOST is not loopback.",
    ),
    Setting(
        "API_SECRET_KEY",
        str,
        "",
        "Key that signs the console's login cookie; empty: a random key kept in $SCALE_VAR_DIR/secret_key (set one shared value when the API runs on several hosts).",
    ),
    Setting(
        "API_AUDIT", bool, True, "Record every write through the API and the console in the audit trail (GET /audit/)."
    ),
    Setting("API_MAX_JSON_DEPTH", int, 64, "Deepest nesting of arrays and objects a JSON body may have."),
    Setting("API_MAX_LIST_ITEMS", int, 10000, "Most items any array in a JSON body may hold (ids, inputs, jobs)."),
    Setting(
        "REQUEUE_MAX_JOBS",
        int,
        1000,
        "Most jobs one POST /queue/requeue-jobs/ requeues; filters matching more are refused with the count.",
    ),
    Setting("API_WORKERS", int, 2, "Number of gunicorn worker processes."),
    Setting("FLOWER_PORT", int, 5555, "Port of Flower, the Celery monitor."),
    Setting(
        "FLOWER_ADDRESS",
        str,
        "127.0.0.1",
        "Address Flower binds; any other than loopback needs FLOWER_BASIC_AUTH (Flower reads both itself).",
    ),
    Setting("FLOWER_BASIC_AUTH", str, "", "Flower's basic authentication, `user:password[,user:password...]`."),
    Setting(
        "MESOS_MASTER",
        str,
        "127.0.0.1:5050",
        "Mesos master host:port the scheduler subscribes to; unset means 127.0.0.1:LOCAL_CLUSTER_PORT (the local cluster).",
    ),
    Setting(
        "LOCAL_CLUSTER_PORT",
        int,
        5050,
        "Port the local cluster serves the Mesos v1 scheduler API on; unset means the port of a loopback MESOS_MASTER; differing ports are refused.",
    ),
    Setting(
        "LOCAL_CLUSTER_AGENTS",
        int,
        1,
        "Number of simulated agents the local cluster offers (machine resources are split between them).",
    ),
    Setting(
        "LOCAL_CLUSTER_CPUS",
        float,
        0.0,
        "CPUs offered per agent; 0 means this machine's CPU count divided by the agents.",
    ),
    Setting(
        "LOCAL_CLUSTER_MEM",
        float,
        0.0,
        "Memory (MiB) offered per agent; 0 means this machine's memory divided by the agents.",
    ),
    Setting(
        "LOCAL_CLUSTER_DISK",
        float,
        0.0,
        "Disk (MiB) offered per agent; 0 means free disk of SCALE_VAR_DIR divided by the agents.",
    ),
    Setting(
        "LOCAL_CLUSTER_RESOURCES",
        str,
        "",
        "Each agent's resources in Mesos' --resources syntax, replacing LOCAL_CLUSTER_CPUS/MEM/DISK: "
        "`cpus:1;cpus(scale):2;mem(scale):2048;disk:5000;ports:[31000-31099]` reserves for role scale "
        "(ports default to [31000-32000], as on a Mesos agent).",
    ),
    Setting(
        "LOCAL_CLUSTER_NATIVE_WRAPPER",
        bool,
        True,
        "Run local-cluster tasks under the C task wrapper `make` builds (.venv/bin/scale-task-wrapper) when it is there; false: the Python one.",
    ),
    Setting(
        "LOCAL_CLUSTER_TEST_ROUTES",
        bool,
        False,
        "Serve the local cluster's agent routes (/local/agents/add, /local/agents/<id>/remove, .../restart): for tests, and for the 'local' node provider of autoscaled pools.",
    ),
    Setting(
        "LOCAL_CLUSTER_MEMORY_LIMITS",
        bool,
        False,
        "Emulate Mesos' memory isolator: a command task using more resident memory than its mem is killed, TASK_FAILED with REASON_CONTAINER_LIMITATION_MEMORY (error out-of-memory).",
    ),
    Setting(
        "LOCAL_CLUSTER_ALLOW_SHELL",
        bool,
        False,
        "Let the local cluster run tasks whose command has `shell: true` (Mesos' default; Scale never sends one).",
    ),
    Setting(
        "MESOS_PRINCIPAL",
        str,
        "",
        "Principal the scheduler authenticates with (HTTP basic, with MESOS_SECRET; FrameworkInfo.principal too).",
    ),
    Setting(
        "MESOS_SECRET",
        str,
        "",
        "Secret of MESOS_PRINCIPAL; when both are set the local cluster requires them on every call but /health and /version.",
    ),
    Setting("LOCAL_CLUSTER_OFFER_INTERVAL", float, 0.2, "Seconds between offer rounds for idle resources."),
    Setting(
        "LOCAL_CLUSTER_TASK_ENV",
        str,
        '{"PATH": "/usr/local/bin:/usr/bin:/bin", "LANG": "C.UTF-8"}',
        "Base environment of every task, as a JSON object (like a Mesos agent's --executor_environment_variables); the cluster's own environment is never passed on.",
    ),
    Setting(
        "LOCAL_CLUSTER_CONTAINER_RUNTIME",
        str,
        "",
        "Docker-compatible tool the local cluster runs DOCKER tasks with; empty: podman, else docker, from PATH; `none`: DOCKER tasks fail.",
    ),
    Setting(
        "DOCKER_NETWORK",
        str,
        "NONE",
        "Network of DOCKER tasks (Mesos DockerInfo.network): NONE (other people's code gets no network unless you say so), HOST or BRIDGE; anything else is refused at start.",
    ),
    Setting(
        "DOCKER_PARAMETERS",
        str,
        "",
        "Extra `docker run` options for every DOCKER task, `key=value;key=value` (DockerInfo.parameters, e.g. `shm-size=1g`).",
    ),
    Setting(
        "DOCKER_FORCE_PULL",
        bool,
        False,
        "Pull a DOCKER task's image even when the agent has it (DockerInfo.force_pull_image).",
    ),
    Setting("FRAMEWORK_NAME", str, "scale", "Mesos framework name."),
    Setting("FRAMEWORK_ROLE", str, "*", "Mesos role the framework registers with."),
    Setting(
        "FRAMEWORK_USER",
        str,
        "",
        "User the framework's tasks run as on the agents (FrameworkInfo.user); empty means the user running the scheduler.",
    ),
    Setting(
        "FRAMEWORK_FAILOVER_TIMEOUT",
        float,
        7 * 24 * 3600.0,
        "Seconds Mesos keeps the framework's tasks after the scheduler disconnects.",
    ),
    Setting(
        "SCHEDULER_SYNC_INTERVAL",
        float,
        0.2,
        "Seconds between the scheduler's reads of newly queued and canceled jobs.",
    ),
    Setting(
        "SCHEDULER_FULL_SYNC_INTERVAL",
        float,
        10.0,
        "Seconds between full reloads of the in-memory queue, nodes and job types.",
    ),
    Setting("SCHEDULER_MAX_LAUNCH_PER_PASS", int, 2000, "Most job executions launched by one matching pass."),
    Setting(
        "SHARED_RESOURCE_LIMITS",
        str,
        "",
        "Comma-separated name=count: at most count jobs whose interface requires the shared resource name run at once (licenses, database connections); a resource not listed has no limit.",
    ),
    Setting(
        "SCHEDULER_EXPLAIN_JOBS",
        int,
        5000,
        "How many queued jobs (the first in queue order) get the reason they are not running, shown by GET /jobs/<id>/; 0 turns it off.",
    ),
    Setting(
        "SCHEDULER_EXPLAIN_INTERVAL",
        float,
        5.0,
        "Seconds between the passes that record why queued jobs are not running (only changed reasons are written).",
    ),
    Setting(
        "SCHEDULER_OFFER_HOLD",
        float,
        10.0,
        "Seconds an unused offer is held (ready for newly queued jobs) before it is declined.",
    ),
    Setting("SCHEDULER_DECLINE_REFUSE", float, 0.5, "Seconds the master is asked not to re-offer declined resources."),
    Setting(
        "SCHEDULER_STORAGE_PROBES",
        bool,
        True,
        "Run a small task on each new agent that checks it sees the executions directory and every active workspace; one that does not is DEGRADED.",
    ),
    Setting(
        "SCHEDULER_REVIVE_INTERVAL",
        float,
        5.0,
        "Seconds between REVIVE calls while jobs are queued and no offer is held (offers are suppressed while nothing is queued).",
    ),
    Setting("SCHEDULER_STATUS_INTERVAL", float, 2.0, "Seconds between the scheduler's status reports."),
    Setting(
        "SCHEDULER_STATUS_STALE",
        float,
        12.0,
        "Age (s) after which the scheduler status is stale and /status/ answers 503.",
    ),
    Setting(
        "SCHEDULER_HEARTBEAT_TIMEOUT",
        float,
        75.0,
        "Seconds without any event from the master (heartbeats come every 15 s) after which the subscription is taken for dead and the scheduler exits, to be restarted and resubscribe.",
    ),
    Setting(
        "SCHEDULER_RECONCILE_INTERVAL",
        float,
        60.0,
        "Seconds between the scheduler's task reconciliations with the master.",
    ),
    Setting(
        "NODE_OFFLINE_AFTER", float, 300.0, "Seconds without offers after which an agent's node is reported OFFLINE."
    ),
    Setting(
        "NODE_ERROR_PERIOD",
        float,
        60.0,
        "Window (s) in which SYSTEM failures on a node are counted for the automatic pause.",
    ),
    Setting("NODE_MAX_ERRORS", int, 50, "SYSTEM failures within NODE_ERROR_PERIOD that pause a node automatically."),
    Setting(
        "RECONCILE_INTERVAL",
        float,
        30.0,
        "Seconds between the periodic reconcile task that repairs what lost messages left behind.",
    ),
    Setting(
        "SYSTEM_JOB_SILENCE",
        float,
        60.0,
        "Seconds without a heartbeat after which a system job's run (Strike; the clock: at least 3 clock periods) fails as system-process-lost.",
    ),
    Setting(
        "AUTOSCALE_INTERVAL",
        float,
        15.0,
        "Seconds between autoscaling passes (they act only while auto mode is on: PATCH /cluster/auto-mode/).",
    ),
    Setting(
        "AUTOSCALE_QUEUE_WAIT",
        float,
        60.0,
        "Seconds a queued job waits before it asks an autoscaled pool whose nodes it fits for a new node.",
    ),
    Setting(
        "AUTOSCALE_IDLE_TIME",
        float,
        300.0,
        "Seconds a launched node runs nothing before the autoscaler holds it, then terminates it (never below min_nodes).",
    ),
    Setting(
        "AUTOSCALE_LAUNCH_TIMEOUT",
        float,
        600.0,
        "Seconds a launched node has to register with the master before the autoscaler gives it up and terminates it.",
    ),
    Setting(
        "CLOCK_PERIOD",
        str,
        "PT1M",
        "ISO-8601 period of Celery beat's clock trigger checks, anchored to the start of each UTC day.",
    ),
    Setting(
        "STRIKE_RESCAN_INTERVAL",
        float,
        5.0,
        "Seconds between Strike's full rescans of its directories (watchdog events are the fast path).",
    ),
    Setting(
        "AGENT_FILES_WAIT",
        float,
        300.0,
        "Seconds the finish step waits (retrying from the reconcile) for an agent that does not answer /files/read"
        " before it fails the execution with filesystem-io: a restarting agent costs no try.",
    ),
    Setting(
        "MAX_INFRASTRUCTURE_REQUEUES",
        int,
        10,
        "Times a job is requeued without spending a try after the cluster lost its task (agent removed or"
        " restarted, cluster restarted, launch not delivered); past that a loss fails the try (node-lost, mesos-lost).",
    ),
    Setting(
        "STRIKE_REGEX_TIMEOUT",
        float,
        0.05,
        "Seconds one Strike filename_regex may spend on one file name; a rule that takes longer (catastrophic"
        " backtracking) does not match that file, and the time-out is logged, so one rule cannot pin the Strike.",
    ),
    Setting(
        "WORKSPACE_MOUNT_ROOT",
        str,
        "",
        "Directory under which an nfs workspace mount host:/path resolves to <root>/host/path. Empty means $SCALE_VAR_DIR/mounts.",
    ),
    Setting(
        "WORKSPACE_ALLOWED_ROOTS",
        str,
        "",
        "Comma-separated directories holding every workspace host path, nfs mount and Strike directory (links followed, `..` refused); empty: SCALE_VAR_DIR and WORKSPACE_MOUNT_ROOT.",
    ),
    Setting(
        "WORKSPACE_SIZE_INTERVAL",
        float,
        600.0,
        "Seconds between background refreshes of every workspace's used and total size.",
    ),
    Setting("LOG_LEVEL", str, "INFO", "Logging level of every process."),
]

_BY_NAME = {s.name: s for s in REGISTRY}


LOOPBACK_HOSTS = ("127.0.0.1", "localhost", "::1", "[::1]", "")


def is_loopback(host: str) -> bool:
    return host in LOOPBACK_HOSTS or host.startswith("127.")


SECRET_SETTINGS = ("API_SECRET_KEY", "FLOWER_BASIC_AUTH", "MESOS_SECRET")
URL_SETTINGS = ("DATABASE_URL", "REDIS_URL", "CELERY_RESULT_BACKEND")


def redact_secrets(text: str, values: Any = None) -> str:
    """`text` without any password of a configured URL or any secret setting (for messages and logs)."""
    from urllib.parse import unquote, urlsplit

    values = values or settings
    secrets = [getattr(values, name) for name in SECRET_SETTINGS]
    for name in URL_SETTINGS:
        try:
            password = urlsplit(getattr(values, name)).password
        except ValueError:
            continue
        if password:
            secrets += [password, unquote(password)]
    for secret in sorted((s for s in secrets if s and len(s) >= 3), key=len, reverse=True):
        text = text.replace(secret, "***")
    return text


def _exposure_problem(name: str, address: str, protected: bool, what: str, fix: str) -> str:
    """Why a service must not start ("" when it may): bound beyond loopback and not protected."""
    if is_loopback(address) or protected:
        return ""
    return f"{name}={address} serves {what} beyond this machine: {fix} or bind 127.0.0.1"


def api_exposure_problem(values: Any) -> str:
    """The API reachable from other hosts without tokens."""
    fix = "set API_AUTH=true (and create a token: python -m app.tokens create --role admin)"
    return _exposure_problem("API_HOST", values.API_HOST, values.API_AUTH, "the API", fix)


def flower_exposure_problem(values: Any) -> str:
    """Flower reachable from other hosts without a password."""
    fix = "set FLOWER_BASIC_AUTH (user:password)"
    return _exposure_problem("FLOWER_ADDRESS", values.FLOWER_ADDRESS, bool(values.FLOWER_BASIC_AUTH), "Flower", fix)


def exposure_problems(values: Any) -> list[str]:
    """Every reason the API or Flower must not start as configured."""
    return [p for p in (api_exposure_problem(values), flower_exposure_problem(values)) if p]


def shared_resource_limits(text: str) -> dict[str, int]:
    """SHARED_RESOURCE_LIMITS ("license-x=4, db=10") as {name: count}; ValueError naming what is wrong."""
    limits: dict[str, int] = {}
    for item in filter(None, (part.strip() for part in text.split(","))):
        name, sep, count = item.partition("=")
        name, count = name.strip(), count.strip()
        if not sep or not name or not count.isdigit():
            raise ValueError(f"SHARED_RESOURCE_LIMITS: expected name=count (count a whole number >= 0), got {item!r}")
        limits[name] = int(count)
    return limits


DOCKER_NETWORKS = ("NONE", "HOST", "BRIDGE")  # USER would need a NetworkInfo naming the network


def docker_network(text: str) -> str:
    """DOCKER_NETWORK as DockerInfo.network; ValueError for a name a master would silently turn into HOST."""
    network = text.strip().upper()
    if network not in DOCKER_NETWORKS:
        raise ValueError(f"DOCKER_NETWORK: expected one of {', '.join(DOCKER_NETWORKS)}, got {text!r}")
    return network


def docker_parameters(text: str) -> list[dict[str, str]]:
    """DOCKER_PARAMETERS ("shm-size=1g; ulimit=nofile=1024") as DockerInfo.parameters; ValueError naming
    what is wrong (a master refuses `name`: the containerizer names the container itself)."""
    parameters = []
    for item in filter(None, (part.strip() for part in text.split(";"))):
        key, sep, value = item.partition("=")
        key = key.strip()
        if not sep or not key:
            raise ValueError(f"DOCKER_PARAMETERS: expected key=value, got {item!r}")
        if key == "name":
            raise ValueError("DOCKER_PARAMETERS: 'name' is refused by Mesos (the containerizer names containers)")
        parameters.append({"key": key, "value": value.strip()})
    return parameters


def resolve_cluster(env: Any) -> tuple[str, int, str]:
    """(MESOS_MASTER, LOCAL_CLUSTER_PORT, conflict message or "") from one setting unless both are given.

    Only LOCAL_CLUSTER_PORT set: the master is 127.0.0.1 on that port. Only a loopback MESOS_MASTER
    set: the local cluster serves on its port. Both set, loopback master, different ports: a conflict.
    """
    master, port = env.get("MESOS_MASTER") or "", env.get("LOCAL_CLUSTER_PORT") or ""
    default_master, default_port = _BY_NAME["MESOS_MASTER"].default, _BY_NAME["LOCAL_CLUSTER_PORT"].default
    if not master:
        return (f"127.0.0.1:{int(port)}" if port else default_master), int(port or default_port), ""
    host, _, master_port = master.rpartition(":")
    if not is_loopback(host) or not master_port.isdigit():
        return master, int(port or default_port), ""
    if port and int(port) != int(master_port):
        return (
            master,
            int(port),
            (
                f"MESOS_MASTER={master} names this machine on port {master_port} but "
                f"LOCAL_CLUSTER_PORT={port}: the scheduler would not reach the local cluster; "
                "set only one of them, or the same port in both"
            ),
        )
    return master, int(master_port), ""


def master_problem(master: str) -> str:
    """Why MESOS_MASTER cannot be used ("" when it can): `host:port`, or ZooKeeper's
    `zk://host:port[,host:port...]/path`, which pymesos follows to the leading master."""
    if master.startswith("zk://"):
        hosts, slash, path = master[len("zk://") :].partition("/")
        # credentials (zk://user:pass@...) are not parsed by pymesos' detector
        ok = slash and path and hosts and "@" not in hosts
        ok = ok and all(h.rpartition(":")[0] and h.rpartition(":")[2].isdigit() for h in hosts.split(","))
        return "" if ok else f"MESOS_MASTER={master}: expected zk://host:port[,host:port...]/path (no credentials)"
    host, _, port = master.rpartition(":")
    if "://" in master or not host or not port.isdigit():
        return f"MESOS_MASTER={master}: expected host:port of a master (or zk://host:port/path)"
    return ""


class _Settings:
    def __init__(self) -> None:
        self._values: dict[str, Any] = {}
        self.reload()

    def reload(self) -> None:
        values = {}
        for s in REGISTRY:
            raw = os.environ.get(s.name)
            if raw is None or raw == "":
                values[s.name] = s.default
            elif s.type is bool:
                values[s.name] = _bool(raw)
            else:
                values[s.name] = s.type(raw)
        values["MESOS_MASTER"], values["LOCAL_CLUSTER_PORT"], self.conflict = resolve_cluster(os.environ)
        self._values = values

    def check(self) -> None:
        """Refuse to start (SystemExit with the message) when settings contradict each other."""
        if self.conflict:
            raise SystemExit(self.conflict)
        try:
            shared_resource_limits(self.SHARED_RESOURCE_LIMITS)
            docker_network(self.DOCKER_NETWORK)
            docker_parameters(self.DOCKER_PARAMETERS)
        except ValueError as exc:
            raise SystemExit(str(exc)) from None
        problem = master_problem(self.MESOS_MASTER)
        if problem:
            raise SystemExit(problem)

    def __getattr__(self, name: str) -> Any:
        try:
            return self._values[name]
        except KeyError:
            raise AttributeError(name) from None

    @property
    def var_dir(self) -> Path:
        return Path(self.SCALE_VAR_DIR)

    @property
    def database_url(self) -> str:
        return self.DATABASE_URL or f"sqlite:///{self.var_dir / 'scale.db'}"

    @property
    def mount_root(self) -> Path:
        return Path(self.WORKSPACE_MOUNT_ROOT or self.var_dir / "mounts")

    @property
    def allowed_roots(self) -> list[Path]:
        listed = [Path(p.strip()) for p in self.WORKSPACE_ALLOWED_ROOTS.split(",") if p.strip()]
        return [p.resolve() for p in (listed or [self.var_dir, self.mount_root])]

    @property
    def executions_dir(self) -> Path:
        return self.var_dir / "executions"


settings = _Settings()


def markdown_table() -> str:
    rows = ["| variable | type | default | meaning |", "| --- | --- | --- | --- |"]
    for s in REGISTRY:
        default = s.default if s.default != "" else "(empty)"
        if s.name == "SCALE_VAR_DIR":
            default = "./var"
        rows.append(f"| `{s.name}` | {s.type.__name__} | `{default}` | {s.doc} |")
    return "\n".join(rows)


if __name__ == "__main__":
    print(markdown_table())
