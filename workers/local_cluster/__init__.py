"""The local cluster: a Mesos master and one or several agents in one process.

It speaks the Mesos v1 scheduler HTTP API (JSON only), so the unmodified
`pymesos.MesosSchedulerDriver` talks to it exactly as to a real master: give the driver
`master_uri="127.0.0.1:<port>"` (see `LocalCluster.address`). Tasks run as child processes of
this process, each in its own session (process group) under `task_wrapper.py`, with no
shell unless the task's `command.shell` is true. What an agent checkpoints is kept under
<var_dir>/local-cluster/ (`checkpoint.py`), so a restarted cluster recovers its tasks.

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

  With MESOS_PRINCIPAL and MESOS_SECRET set, every route but /health and /version answers 401
  (`WWW-Authenticate: Basic realm="mesos"`) unless the call carries them as HTTP basic credentials, as a
  master started with --authenticate_http_frameworks does. A task whose command has `shell: true`
  (Mesos' default when `shell` is absent) is TASK_ERROR unless LOCAL_CLUSTER_ALLOW_SHELL.

  Each agent also listens on a port of its own (its offers' `url`), serving GET /files/read
  (`path`, `offset`, `length`: `{"data", "offset"}` as Mesos answers, `offset=-1` for the size), /state
  and /health over its own work directory, <var_dir>/sandboxes/agent-<n>, where sandboxes are laid out as
  on a Mesos agent: slaves/<agent>/frameworks/<fw>/executors/<task>/runs/<container id> (runs/latest
  links it; also served at /frameworks/<fw>/executors/<task>/runs/latest). Task updates carry the
  run's `container_status.container_id`.

  Test-only routes (to simulate agents joining and leaving; 404 unless LOCAL_CLUSTER_TEST_ROUTES):
    GET  /local/agents                    the agents, as in /state
    POST /local/agents/add                add an agent; optional JSON body
                                          {"hostname", "cpus", "mem", "disk", "attributes": {name: value}}
                                          -> 200 {"agent_id": ..., "hostname": ...}
    POST /local/agents/<agent_id>/restart the agent comes back with a new id (as after a reboot): removed as
                                          below, then the same hostname, resources, work dir and port register
                                          -> 200 {"agent_id", "new_agent_id", "lost_tasks"}
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

The package
    resources.py    resource arithmetic; the JSON of resources, attributes and ids (pure)
    model.py        the master's records: Agent, Framework, Offer, Task, and each framework's Stream
    master.py       Master: the scheduler calls, reliable status updates, /state (no I/O of its own)
    allocator.py    Allocator: offer rounds, round-robin among frameworks
    executor.py     TaskExecutor: starts, watches, kills and recovers the agents' tasks
    checkpoint.py   what an agent checkpoints, and process helpers for recovery
    task_wrapper.py the wrapper each task's command runs under
    http_api.py     the HTTP server, routes and the RecordIO event stream
    agent_http.py   each agent's own HTTP endpoint: /files/read over its sandboxes, /state, /health
    cluster.py      LocalCluster, which composes them; __main__.py the command line
"""

from workers.local_cluster.cluster import LocalCluster
from workers.local_cluster.resources import machine_resources, parse_attributes

__all__ = ["LocalCluster", "machine_resources", "parse_attributes"]
