"""The HTTP layer: the v1 scheduler API (a JSON call per POST; SUBSCRIBE answered with a chunked
RecordIO event stream), the read-only master endpoints, and the test-only agent routes.
"""

from __future__ import annotations

import base64
import hmac
import json
import logging
import queue
import re
import select
import socket
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import TYPE_CHECKING, Any

from workers.local_cluster.master import MESOS_VERSION, CallRefused, Master
from workers.local_cluster.model import Stream

if TYPE_CHECKING:
    from workers.local_cluster.cluster import LocalCluster

log = logging.getLogger(__name__)


class Replies(BaseHTTPRequestHandler):
    """What the master's and the agents' handlers share: answers, and Mesos' HTTP basic check."""

    protocol_version = "HTTP/1.1"

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

    def authenticated(self, credentials: tuple[str, str] | None) -> bool:
        """True when no credentials are required or the request presents them; else answers 401."""
        if credentials is None:
            return True
        expected = "Basic " + base64.b64encode(":".join(credentials).encode()).decode()
        if hmac.compare_digest(self.headers.get("Authorization", "").encode(), expected.encode()):
            return True
        # no body: pymesos (0.3.x) fails on a partial error body of a SUBSCRIBE answer
        self.reply(401, None, headers={"WWW-Authenticate": 'Basic realm="mesos"'})
        return False


class Handler(Replies):
    server_version = "ScaleLocalCluster/" + MESOS_VERSION
    server: "Server"

    def setup(self) -> None:
        super().setup()
        self.server.track(self.connection, True)

    def finish(self) -> None:
        try:
            super().finish()
        finally:
            self.server.track(self.connection, False)

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - stdlib signature
        log.debug("%s %s", self.address_string(), format % args)

    def read_body(self) -> bytes | None:
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            self.reply(411, "chunked request bodies are not supported; send Content-Length")
            self.close_connection = True
            return None
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length else b""

    def do_GET(self) -> None:
        if self.admitted():
            route_get(self.server.cluster, self)

    do_HEAD = do_GET

    def do_POST(self) -> None:
        body = self.read_body()
        if body is not None and self.admitted():
            route_post(self.server.cluster, self, body)

    def admitted(self) -> bool:
        """False after answering 401 (credentials required and not presented) or 404 (a test-only route
        while they are off)."""
        cluster = self.server.cluster
        path = self.path.split("?", 1)[0].rstrip("/")
        if path not in OPEN_PATHS and not self.authenticated(cluster.credentials):
            return False
        if path.startswith("/local/") and not cluster.test_routes:
            self.reply(404, f"no route {path} (test-only routes are off: LOCAL_CLUSTER_TEST_ROUTES)\n")
            return False
        return True


# What a master answers without authentication (`/health` for load balancers, `/version`).
OPEN_PATHS = ("/health", "/master/health", "/version", "/master/version")


class Server(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False
    allow_reuse_address = True

    def __init__(self, address: tuple[str, int], cluster: "LocalCluster") -> None:
        super().__init__(address, Handler)
        self.cluster = cluster
        self._connections: set[socket.socket] = set()
        self._connections_lock = threading.Lock()

    def track(self, conn: socket.socket, add: bool) -> None:
        with self._connections_lock:
            if add:
                self._connections.add(conn)
            else:
                self._connections.discard(conn)

    def close_connections(self) -> None:
        """Shut down every open connection (event streams included), after `shutdown`."""
        with self._connections_lock:
            connections = list(self._connections)
        for conn in connections:
            try:
                conn.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass


def route_get(cluster: "LocalCluster", h: Handler) -> None:
    path = h.path.split("?", 1)[0].rstrip("/") or "/"
    if path in ("/version", "/master/version"):
        h.reply(
            200,
            {"version": MESOS_VERSION, "build_user": "scale-local-cluster", "build_time": cluster.master.started_at},
        )
    elif path in ("/health", "/master/health"):
        h.reply(200, {"healthy": True})
    elif path in ("/state", "/state.json", "/master/state", "/master/state.json"):
        h.reply(200, cluster.state())
    elif path in ("/redirect", "/master/redirect"):
        h.reply(307, None, headers={"Location": f"//{cluster.address}"})
    elif path == "/local/agents":
        h.reply(200, {"agents": cluster.agents()})
    else:
        h.reply(404, f"no route {path}\n")


def route_post(cluster: "LocalCluster", h: Handler, body: bytes) -> None:
    path = h.path.split("?", 1)[0].rstrip("/")
    if path in ("/api/v1/scheduler", "/master/api/v1/scheduler"):
        scheduler_call(cluster.master, h, body)
        return
    if path == "/local/agents/add":
        try:
            spec = json.loads(body) if body.strip() else {}
            if not isinstance(spec, dict):
                raise ValueError("body must be a JSON object")
            agent_id = cluster.add_agent(
                **{k: spec[k] for k in ("hostname", "cpus", "mem", "disk", "attributes") if k in spec}
            )
        except (ValueError, TypeError) as exc:
            h.reply(400, f"{exc}\n")
            return
        h.reply(200, {"agent_id": agent_id, "hostname": cluster.master.agents[agent_id].hostname})
        return
    m = re.fullmatch(r"/local/agents/([^/]+)/restart", path)
    if m:
        try:
            new_id, lost = cluster.restart_agent(m.group(1))
        except KeyError:
            h.reply(404, f"unknown agent {m.group(1)}\n")
            return
        h.reply(200, {"agent_id": m.group(1), "new_agent_id": new_id, "lost_tasks": lost})
        return
    m = re.fullmatch(r"/local/agents/([^/]+)/remove", path)
    if m:
        try:
            lost = cluster.remove_agent(m.group(1))
        except KeyError:
            h.reply(404, f"unknown agent {m.group(1)}\n")
            return
        h.reply(200, {"agent_id": m.group(1), "lost_tasks": lost})
        return
    h.reply(404, f"no route {path}\n")


def scheduler_call(master: Master, h: Handler, body: bytes) -> None:
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
    try:
        if call.get("type") == "SUBSCRIBE":
            stream = master.subscribe(call)
        else:
            master.call(call, h.headers.get("Mesos-Stream-Id"))
            h.reply(202)
            return
    except CallRefused as refused:
        h.reply(refused.status, f"{refused}\n")
        return
    try:
        write_stream(h, stream, master.heartbeat_interval)
    finally:
        master.stream_ended(stream)


def write_stream(h: Handler, stream: Stream, heartbeat_interval: float) -> None:
    """Write the stream's events as RecordIO (`<length>\\n<json>`) in HTTP chunks, with heartbeats,
    until the stream is closed or the scheduler goes away."""
    h.close_connection = True
    h.send_response(200)
    h.send_header("Content-Type", "application/json")
    h.send_header("Transfer-Encoding", "chunked")
    h.send_header("Mesos-Stream-Id", stream.id)
    h.send_header("Cache-Control", "no-cache")
    h.end_headers()
    sock = h.connection
    next_heartbeat = time.monotonic() + heartbeat_interval
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
                next_heartbeat = time.monotonic() + heartbeat_interval
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
