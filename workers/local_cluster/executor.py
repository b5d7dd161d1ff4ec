"""The agents' task executor: starts each task's command under the task wrapper, reports it running and
ended, kills it, and at start takes back what the checkpoint says was running (agent recovery).

Tasks run as child processes in their own sessions, with no shell unless `command.shell` is true, in
the environment an agent gives (never the cluster's own). Status changes go through `Master.update`
under the master's lock.
"""

from __future__ import annotations

import json
import logging
import os
import pwd
import queue
import signal
import subprocess
import threading
import time
import uuid
from pathlib import Path

import psutil

from app.mesos import TERMINAL_TASK_STATES
from workers.local_cluster import containers, oom
from workers.local_cluster.agent_http import run_dir
from workers.local_cluster.checkpoint import RecoveredTask, process_start_time, wait_for_exit, wrapper_command
from workers.local_cluster.master import SOURCE_AGENT, SOURCE_EXECUTOR, Master
from workers.local_cluster.model import Framework, Task
from workers.local_cluster.resources import by_name

log = logging.getLogger(__name__)

MEMORY_CHECK_INTERVAL = 0.25


def _resident_mib(wrapper_pid: int) -> float:
    """Resident memory of a task's command: every process under its wrapper (the wrapper is the agent's)."""
    try:
        children = psutil.Process(wrapper_pid).children(recursive=True)
    except psutil.Error:
        return 0.0
    total = 0
    for child in children:
        try:
            total += child.memory_info().rss
        except psutil.Error:
            continue
    return total / (1024 * 1024)


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


def describe_exit(returncode: int) -> str:
    """The message of the command executor for a command's end."""
    if returncode >= 0:
        return f"Command exited with status {returncode}"
    try:
        name = signal.strsignal(-returncode) or f"signal {-returncode}"
    except ValueError:
        name = f"Unknown signal {-returncode}"
    return f"Command terminated with signal {name}"


def command_line(command: dict) -> tuple[str, list[str]]:
    """(executable, argv) of a CommandInfo: `/bin/sh -c value` when `shell` (Mesos' default), else its arguments."""
    if command.get("shell", True):
        return "/bin/sh", ["/bin/sh", "-c", str(command.get("value", ""))]
    argv = [str(a) for a in command.get("arguments") or []]
    executable = str(command.get("value") or (argv[0] if argv else ""))
    return executable, argv or [executable]


class TaskExecutor:
    def __init__(self, master: Master, sandbox_root: Path, kill_grace: float) -> None:
        self.master = master
        self.checkpoint = master.checkpoint
        self.sandbox_root = sandbox_root
        self.kill_grace = kill_grace
        self._launch_queue: queue.Queue[Task | None] = queue.Queue()
        self.memory_limits = False  # emulate Mesos' memory isolator (cgroups): kill a task over its mem

    def watch_memory(self) -> None:
        """While memory limits are on: every MEMORY_CHECK_INTERVAL, a command task whose processes use more
        resident memory than its `mem` is killed and reported as the memory isolator reports it."""
        master = self.master
        while not master.stopping.wait(MEMORY_CHECK_INTERVAL):
            if not self.memory_limits:
                continue
            with master.lock:
                watched = [
                    (t, t.pid, by_name(t.resources).get("mem", 0.0))
                    for t in master.tasks.values()
                    if t.pid is not None
                    and not t.exited
                    and not t.kill_requested
                    and t.memory_exceeded is None
                    and not containers.is_docker_task(t.info)
                ]
            for task, pid, limit in watched:
                used = _resident_mib(pid)
                if limit > 0 and used > limit:
                    with master.lock:
                        if not task.exited:
                            log.info("task %s uses %.0f MiB, over its %.0f MiB: killed", task.id, used, limit)
                            task.memory_exceeded = (limit, used)
                            self.signal(task, signal.SIGKILL)  # as the kernel's OOM killer in the task's cgroup

    # ----------------------------------------------------------------- the Runner the master uses

    def launch(self, task: Task) -> None:
        self._launch_queue.put(task)

    def kill(self, task: Task, grace: float) -> None:
        """SIGTERM to the task's process group, SIGKILL after `grace` seconds (under the master's lock)."""
        if not task.kill_requested:
            task.kill_requested = True
            self.checkpoint.mark(task.id, "killed")
        if task.pid is None or task.exited:
            return  # not started yet: the launcher sees kill_requested
        self.signal(task, signal.SIGTERM)
        if task.kill_timer is None:

            def force() -> None:
                with self.master.lock:
                    self.signal(task, signal.SIGKILL)

            task.kill_timer = threading.Timer(grace, force)
            task.kill_timer.daemon = True
            task.kill_timer.start()

    def kill_now(self, task: Task) -> None:
        self.signal(task, signal.SIGKILL)

    def signal(self, task: Task, sig: int) -> None:
        if task.pid is None or task.exited:
            return
        try:
            os.killpg(task.pid, sig)
        except (ProcessLookupError, PermissionError):
            pass

    # ----------------------------------------------------------------- starting and watching tasks

    def run(self) -> None:
        """The launcher thread: starts queued tasks one after another until `stop`."""
        master = self.master
        while True:
            task = self._launch_queue.get()
            if task is None or master.stopping.is_set():
                return
            try:
                self.spawn(task)
            except Exception:  # never let one task stop the launcher
                log.exception("launching task %s failed", task.id)
                with master.lock:
                    if task.state not in TERMINAL_TASK_STATES:
                        message = "Failed to launch command: internal error"
                        master.update(task, "TASK_FAILED", message, SOURCE_EXECUTOR)

    def stop(self, grace: float) -> None:
        """Stop the launcher and kill every running task (SIGTERM, SIGKILL after `grace`), as the
        cluster's doing: the next start reports them lost."""
        self._launch_queue.put(None)
        with self.master.lock:
            tasks = [t for t in self.master.tasks.values() if t.pid is not None and not t.exited]
            for task in tasks:
                self.checkpoint.mark(task.id, "shutdown")
                task.kill_requested = True
                self.signal(task, signal.SIGTERM)
        deadline = time.monotonic() + grace
        while time.monotonic() < deadline and any(not t.exited for t in tasks):
            time.sleep(0.02)
        with self.master.lock:
            for task in tasks:
                if not task.exited:
                    self.signal(task, signal.SIGKILL)
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline and any(not t.exited for t in tasks):
            time.sleep(0.02)
        for task in tasks:
            if not task.exited:
                log.warning("task %s (pid %s) did not exit", task.id, task.pid)
            self._remove_container(task)  # before the process ends: the waiting threads may not get to it

    def spawn(self, task: Task) -> None:
        master = self.master
        with master.lock:
            if task.state != "TASK_STAGING":
                return
            if task.kill_requested:
                master.update(task, "TASK_KILLED", "Task killed before it was launched", SOURCE_EXECUTOR)
                return
            framework_id = task.framework_id
        command = task.info.get("command") or {}
        container_id = str(uuid.uuid4())
        work_dir = task.agent.work_dir if task.agent is not None and task.agent.work_dir else self.sandbox_root
        sandbox = run_dir(work_dir, task.agent_id, framework_id, task.id, container_id)  # executor id = task id
        error = None
        reason = None
        executable, argv = command_line(command)
        if containers.is_docker_task(task.info):
            try:
                tool = containers.prepare(containers.runtime(), task.info, task.agent.hostname if task.agent else "")
                limits = by_name(task.resources)
                if containers.own_cgroups(tool):
                    task.memory_watch = oom.watch(container_id, limits.get("mem", 0.0))
                argv = containers.run_argv(
                    tool,
                    task.id,
                    task.info,
                    sandbox,
                    self.sandbox_root,
                    limits,
                    containers.task_environment(command),
                    task.memory_watch,
                )
                executable = argv[0]
            except (containers.ContainerError, OSError, subprocess.TimeoutExpired) as exc:
                error, reason = str(exc), "REASON_CONTAINER_LAUNCH_FAILED"
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
        proc = None
        if error is not None:
            self._forget_memory_watch(task)
            with master.lock:
                task.exited = True
                if task.state not in TERMINAL_TASK_STATES:
                    master.update(task, "TASK_FAILED", error, SOURCE_EXECUTOR, reason)
            return
        ready_r, ready_w = os.pipe()
        status_file = self.checkpoint.exit_status_path(task.id)
        wrapper = wrapper_command(status_file, ready_w, executable, argv)
        try:
            sandbox.mkdir(parents=True, exist_ok=True)
            (sandbox.parent / "latest").symlink_to(container_id)
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
        with master.lock:
            task.sandbox = sandbox
            task.container_id = container_id
            if proc is None:
                os.close(ready_r)
                self._forget_memory_watch(task)
                task.exited = True
                if task.state not in TERMINAL_TASK_STATES:
                    master.update(task, "TASK_FAILED", error, SOURCE_EXECUTOR)
                return
            task.proc = proc
            task.pid = proc.pid
            log.debug("task %s started as pid %d: %r", task.id, proc.pid, argv)
            if task.state in TERMINAL_TASK_STATES or master.stopping.is_set():
                self.signal(task, signal.SIGKILL)  # lost (or stopping) while it was being started
        threading.Thread(target=self._wait, args=(task, proc, ready_r), name=f"task-{task.id}", daemon=True).start()

    def _checkpoint_task(self, task: Task, pid: int, sandbox: Path) -> None:
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

    def _wait(self, task: Task, proc: subprocess.Popen, ready: int) -> None:
        """Report the command started (or could not), then its end; the wrapper's exit is the command's."""
        master = self.master
        with os.fdopen(ready, "rb") as pipe:
            started = pipe.read()
        with master.lock:
            if started == b"+" and task.state not in TERMINAL_TASK_STATES and not master.stopping.is_set():
                master.update(task, "TASK_RUNNING", None, SOURCE_EXECUTOR)
                if task.kill_requested:
                    self.kill(task, self.kill_grace)
        launch_error = started[1:].decode("utf-8", "replace") if started.startswith(b"-") else None
        self._ended(task, proc.wait(), launch_error)
        self._remove_container(task)

    @classmethod
    def _remove_container(cls, task: Task) -> None:
        """A DOCKER task leaves no container behind, however its run ended (outside the master's lock)."""
        if containers.is_docker_task(task.info):
            containers.remove(containers.runtime(), task.id)
            cls._forget_memory_watch(task)

    @staticmethod
    def _forget_memory_watch(task: Task) -> None:
        watch, task.memory_watch = task.memory_watch, None
        if watch is not None:
            watch.remove()

    def _watch_adopted(self, task: Task, pid: int) -> None:
        wait_for_exit(pid)
        try:
            returncode: int | None = int(self.checkpoint.exit_status_path(task.id).read_text())
        except (OSError, ValueError):
            returncode = None
        self._ended(task, returncode)
        self._remove_container(task)

    def _ended(self, task: Task, returncode: int | None, launch_error: str | None = None) -> None:
        master = self.master
        with master.lock:
            # Whatever is left of the task's process group goes with it (as Mesos kills the container).
            self.signal(task, signal.SIGKILL)
            task.exited = True
            if task.kill_timer is not None:
                task.kill_timer.cancel()
            if task.state in TERMINAL_TASK_STATES or master.stopping.is_set():
                return
            reason = None
            if launch_error is not None:
                state, message = "TASK_FAILED", f"Failed to launch command: {launch_error}"
            elif returncode is None:  # an adopted task's wrapper was killed outright: no exit status
                state, message = "TASK_FAILED", "Command ended without an exit status while the agent was down"
                reason = "REASON_EXECUTOR_TERMINATED"
            else:
                message = describe_exit(returncode)
                state = "TASK_FINISHED" if returncode == 0 else "TASK_FAILED"
            if task.kill_requested and launch_error is None:
                state, reason = "TASK_KILLED", None
            source = SOURCE_EXECUTOR
            watch = task.memory_watch
            if task.memory_exceeded is None and watch is not None and not task.kill_requested and watch.oom_kills():
                task.memory_exceeded = (by_name(task.resources).get("mem", 0.0), watch.max_used_mib())
            if task.memory_exceeded is not None:  # Mesos' memory isolator: a container limitation, from the agent
                limit, used = task.memory_exceeded
                state, reason, source = "TASK_FAILED", "REASON_CONTAINER_LIMITATION_MEMORY", SOURCE_AGENT
                message = f"Memory limit exceeded: Requested: {limit:.0f}MB Maximum Used: {used:.0f}MB"
            master.update(task, state, message, source, reason)

    # ----------------------------------------------------------------- recovery (at start, before serving)

    def recover(self) -> set[str]:
        """Take back what the checkpoint holds; the ids of the tasks still running, now watched again."""
        master = self.master
        now = time.monotonic()
        for framework_id, info in self.checkpoint.frameworks().items():
            recovered = master.frameworks[framework_id] = Framework(framework_id, info)
            recovered.disconnected_at = now  # it has failover_timeout seconds to re-subscribe, as after a disconnection
        adopted = set()
        for found in self.checkpoint.recovered_tasks():
            fw = master.frameworks.get(found.framework_id)
            agent = master.agents.get(found.agent_id)
            if fw is None or agent is None:
                log.warning("task %s belongs to a framework or agent that is gone; killing it", found.task_id)
                if found.alive:
                    self._kill_recovered(found)
                self.checkpoint.remove_task(found.task_id)
                continue
            task = Task(found.task_id, found.framework_id, agent, found.agent_id, found.info, found.resources)
            task.sandbox = found.sandbox
            task.container_id = found.sandbox.name
            task.kill_requested = found.killed
            if containers.is_docker_task(task.info):  # its cgroup outlived the agent
                task.memory_watch = oom.watch(task.container_id, 0.0, create=False)
            master.tasks[task.id] = task
            if found.alive and not found.shutdown:
                task.pid = found.pid
                self._adopt(task)
                adopted.add(task.id)
            else:
                if found.alive:
                    self._kill_recovered(found)
                self._report_recovered(fw, task, found)
        return adopted

    def _adopt(self, task: Task) -> None:
        assert task.pid is not None
        self.master.hold_resources(task)
        log.info("task %s (pid %d) is still running; recovered it", task.id, task.pid)
        self.master.update(task, "TASK_RUNNING", None, SOURCE_EXECUTOR)  # may repeat one the framework has
        if task.kill_requested:
            self.kill(task, self.kill_grace)
        pid = task.pid
        threading.Thread(target=self._watch_adopted, args=(task, pid), name=f"task-{task.id}", daemon=True).start()

    @staticmethod
    def _kill_recovered(found: RecoveredTask) -> None:
        try:
            os.killpg(found.pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass

    def _report_recovered(self, fw: Framework, task: Task, found: RecoveredTask) -> None:
        """The terminal update of a task that ended while no cluster watched it."""
        task.exited = True
        if found.shutdown or not found.same_boot:
            # The agent's own stop (or the machine's restart) ended it: not the task's doing.
            state = "TASK_GONE" if fw.has_capability("PARTITION_AWARE") else "TASK_LOST"
            why = "the agent was stopped" if found.shutdown else "the machine restarted"
            message = f"Task killed because {why}; the agent restarted"
            self.master.update(task, state, message, SOURCE_EXECUTOR, "REASON_AGENT_RESTARTED")
        else:
            self._ended(task, found.exit_code)
        self._forget_memory_watch(task)
