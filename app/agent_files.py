"""A task's files read through its agent, as on a real cluster: the sandbox lives on the agent's machine,
so logs and stdout's ARTIFACT lines come from the agent's `GET /files/read?path=&offset=&length=`
(Mesos' files endpoint: `{"data", "offset"}`, `offset=-1` for the size, at most a few pages per call).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import requests

from app.settings import settings

# Asked per call: no more than a Mesos agent answers at once (16 pages of 4 KiB), so an answer shorter
# than that is the file's end.
PAGE = 64 * 1024
TIMEOUT = 5.0


class AgentFilesError(RuntimeError):
    """The agent could not be reached or refused the read."""


def _as_bytes(data: str) -> bytes:
    # Our agents send each byte as one code point (latin-1); a Mesos agent passes UTF-8 text through.
    try:
        return data.encode("latin-1")
    except UnicodeEncodeError:
        return data.encode("utf-8", "surrogateescape")


@dataclass(frozen=True)
class AgentFile:
    agent_url: str  # http://host:port of the agent
    path: str  # as the agent serves it, e.g. /frameworks/<fw>/executors/<task>/runs/latest/stdout

    def _read(self, offset: int, length: int | None = None) -> tuple[bytes, int] | None:
        """(data, offset) of one call; None when the agent has no such file (yet, or any more)."""
        params: dict[str, str | int] = {"path": self.path, "offset": offset}
        if length is not None:
            params["length"] = length
        auth = (settings.MESOS_PRINCIPAL, settings.MESOS_SECRET) if settings.MESOS_PRINCIPAL else None
        try:
            r = requests.get(f"{self.agent_url}/files/read", params=params, auth=auth, timeout=TIMEOUT)
        except requests.RequestException as exc:
            raise AgentFilesError(f"agent {self.agent_url} did not answer: {exc}") from None
        if r.status_code == 404:
            return None
        if r.status_code != 200:
            raise AgentFilesError(
                f"agent {self.agent_url} refused to read {self.path}: {r.status_code} {r.text.strip()}"
            )
        try:
            body = r.json()
            return _as_bytes(str(body["data"])), int(body["offset"])
        except (ValueError, KeyError, TypeError) as exc:
            raise AgentFilesError(f"agent {self.agent_url} answered files/read with {exc!r}") from None

    def size(self) -> int | None:
        answer = self._read(-1)
        return None if answer is None else answer[1]

    def chunks(self, start: int = 0, end: int | None = None) -> Iterator[bytes]:
        """The file's bytes from `start` to `end` (by default to its end, read until the agent has no
        more: one call for a short file), page by page."""
        offset = start
        while end is None or offset < end:
            answer = self._read(offset, PAGE if end is None else min(PAGE, end - offset))
            if answer is None or not answer[0]:
                return
            yield answer[0]
            offset += len(answer[0])
            if end is None and len(answer[0]) < PAGE:
                return

    def tail(self, limit: int) -> tuple[bytes, int]:
        """The last `limit` bytes and how many earlier bytes were left out; (b"", 0) when there is no file."""
        size = self.size()
        if not size:
            return b"", 0
        start = max(0, size - limit)
        return b"".join(self.chunks(start, size)), start


@dataclass(frozen=True)
class ProcessLogFile(AgentFile):
    """The log of a system process (Strike, the clock: no Mesos task, no sandbox) in SCALE_VAR_DIR/logs,
    read from this machine's disk with the agent's semantics (served when the API runs beside it)."""

    def _read(self, offset: int, length: int | None = None) -> tuple[bytes, int] | None:
        root = (settings.var_dir / "logs").resolve()
        path = (root / self.path).resolve()
        if path.parent != root or not path.is_file():
            return None  # only the process logs themselves: nothing else of the machine
        with open(path, "rb") as fh:
            size = fh.seek(0, 2)
            if offset < 0:
                return b"", size
            fh.seek(min(offset, size))
            return fh.read(PAGE if length is None else length), offset


def execution_log(exe, name: str) -> AgentFile | None:
    """Where an execution's `stdout` or `stderr` is, or None before it was launched."""
    path = exe.stdout_path if name == "stdout" else exe.stderr_path
    if not path:
        return None
    if not exe.agent_url:
        return ProcessLogFile("", path.rsplit("/", 1)[-1]) if exe.task_id is None and exe.heartbeat else None
    return AgentFile(exe.agent_url, path)


def log_text(exe, name: str, limit: int) -> str:
    """The last `limit` bytes of an execution's log as text, saying how much was left out ("" until the
    agent has it). Raises AgentFilesError when the agent cannot be read."""
    file = execution_log(exe, name)
    if file is None:
        return ""
    data, omitted = file.tail(limit)
    text = data.decode("utf-8", "replace")
    return f"[... {omitted} earlier bytes omitted ...]\n{text}" if omitted else text
