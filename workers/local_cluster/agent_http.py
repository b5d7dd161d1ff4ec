"""Each agent's own HTTP endpoint, as a Mesos agent serves on its port (5051 on a real cluster):
`/files/read` over the task sandboxes in its work directory, `/health`, and a small `/state`.

Sandboxes are laid out as a real agent lays them out, in the agent's own work directory:
    <work_dir>/slaves/<agent id>/frameworks/<framework id>/executors/<executor id>/runs/<container id>/
with `runs/latest` linking the current run. A command task's executor id is its task id. As a Mesos agent
does, each run directory can be read at its own path and at the virtual path
    /frameworks/<framework id>/executors/<executor id>/runs/latest
"""

from __future__ import annotations

import logging
import os
import threading
from http.server import ThreadingHTTPServer
from pathlib import Path, PurePosixPath
from typing import Any
from urllib.parse import parse_qs, urlsplit

from workers.local_cluster.http_api import Replies

log = logging.getLogger(__name__)

# Mesos' files/read answers at most 16 pages per call; a client pages through a longer file.
MAX_READ_LENGTH = 16 * os.sysconf("SC_PAGE_SIZE")


def run_dir(work_dir: Path, agent_id: str, framework_id: str, executor_id: str, container_id: str) -> Path:
    """The sandbox of one executor run, as Mesos' slave/paths.cpp lays it out."""
    executor = work_dir / "slaves" / agent_id / "frameworks" / framework_id / "executors" / executor_id
    return executor / "runs" / container_id


def resolve(work_dir: Path, agent_id: str, path: str) -> Path | None:
    """The file a files/read `path` names on this agent, or None when the agent serves no such path.

    Only executor run directories are attached (at their own path and the virtual one); a symbolic link
    inside a sandbox that leads out of its run directory is not followed."""
    parts = PurePosixPath(path).parts
    if not parts or parts[0] != "/" or ".." in parts:
        return None
    root = (work_dir / "slaves" / agent_id).resolve()
    if parts[1:2] == ("frameworks",):  # /frameworks/<fw>/executors/<eid>/runs/latest/...
        if len(parts) < 7 or parts[3] != "executors" or parts[5:7] != ("runs", "latest"):
            return None
        run = root / "frameworks" / parts[2] / "executors" / parts[4] / "runs" / "latest"
        rest = parts[7:]
    else:
        try:
            relative = Path(path).relative_to(root).parts
        except ValueError:
            return None
        # frameworks/<fw>/executors/<eid>/runs/<container>/...
        if len(relative) < 6 or relative[0] != "frameworks" or relative[2] != "executors" or relative[4] != "runs":
            return None
        run = root.joinpath(*relative[:6])
        rest = relative[6:]
    try:
        run_resolved = run.resolve(strict=True)
        target = run_resolved.joinpath(*rest).resolve(strict=True)
    except (OSError, RuntimeError):
        return None
    if not run_resolved.is_relative_to(root) or not target.is_relative_to(run_resolved):
        return None
    return target


def read_answer(file: Path, offset: int, length: int | None) -> dict[str, Any]:
    """files/read's answer: `{"data", "offset"}`; offset -1 gives the size. `data` holds the bytes as
    code points 0-255 (latin-1), so its length is the number of bytes read."""
    size = file.stat().st_size
    if offset == -1:
        return {"data": "", "offset": size}
    offset = min(offset, size)
    length = MAX_READ_LENGTH if length is None else min(length, MAX_READ_LENGTH)
    with open(file, "rb") as fh:
        fh.seek(offset)
        data = fh.read(length)
    return {"data": data.decode("latin-1"), "offset": offset}


class AgentHandler(Replies):
    server: "AgentServer"

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - stdlib signature
        log.debug("agent %s: %s %s", self.server.agent_id, self.address_string(), format % args)

    def do_GET(self) -> None:
        url = urlsplit(self.path)
        path = url.path.rstrip("/") or "/"
        if path in ("/health", "/slave(1)/health"):
            self.reply(200, {"healthy": True})
            return
        if not self.authenticated(self.server.credentials):
            return
        if path in ("/state", "/state.json", "/slave(1)/state"):
            self.reply(200, self.server.state())
        elif path == "/files/read":
            self._files_read(parse_qs(url.query, keep_blank_values=True))
        else:
            self.reply(404, f"no route {path}\n")

    do_HEAD = do_GET

    def _files_read(self, query: dict[str, list[str]]) -> None:
        """Mesos' files/read: 400 for a missing path or a bad offset/length, 404 for a path it does not
        serve, 400 for a directory."""
        path = (query.get("path") or [""])[0]
        if not path:
            self.reply(400, "Expecting 'path=value' in query.\n")
            return
        numbers: dict[str, int | None] = {}
        for name in ("offset", "length"):
            values = query.get(name)
            raw = values[0] if values else None
            try:
                numbers[name] = None if raw is None else int(raw)
            except ValueError:
                self.reply(400, f"Failed to parse {name}: '{raw}' is not a number.\n")
                return
        offset, length = numbers["offset"], numbers["length"]
        if offset is not None and offset < -1:
            self.reply(400, f"Negative offset provided: {offset}.\n")
            return
        if length is not None and length < 0:
            self.reply(400, f"Negative length provided: {length}.\n")
            return
        file = resolve(self.server.work_dir, self.server.agent_id, path)
        if file is None:
            self.reply(404, f"File '{path}' not found.\n")
        elif file.is_dir():
            self.reply(400, "Cannot read a directory.\n")
        else:
            try:
                self.reply(200, read_answer(file, -1 if offset is None else offset, length))
            except OSError as exc:
                self.reply(500, f"Failed to read file: {exc}\n")


class AgentServer(ThreadingHTTPServer):
    """One agent's HTTP endpoint, on its own port, serving its own work directory only."""

    daemon_threads = True
    block_on_close = False
    allow_reuse_address = True

    def __init__(
        self,
        address: tuple[str, int],
        agent_id: str,
        hostname: str,
        work_dir: Path,
        credentials: tuple[str, str] | None = None,
    ) -> None:
        super().__init__(address, AgentHandler)
        self.agent_id = agent_id
        self.hostname = hostname
        self.work_dir = work_dir.resolve()
        self.credentials = credentials
        self._thread: threading.Thread | None = None

    @property
    def port(self) -> int:
        return int(self.server_address[1])

    def state(self) -> dict[str, Any]:
        return {
            "id": self.agent_id,
            "hostname": self.hostname,
            "pid": f"slave(1)@{self.server_address[0]!s}:{self.port}",
            "flags": {"work_dir": str(self.work_dir), "port": str(self.port)},
        }

    def start(self) -> "AgentServer":
        self._thread = threading.Thread(
            target=lambda: self.serve_forever(poll_interval=0.05), name=f"agent-http-{self.agent_id}", daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._thread is not None:
            self.shutdown()
            self._thread.join(timeout=5)
            self._thread = None
        self.server_close()
