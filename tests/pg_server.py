"""A throwaway PostgreSQL server for the test suite, from Debian's `postgresql` package.

`python -m tests.pg_server -- CMD...` starts a server (temp data dir, free port, private socket dir),
runs CMD with SCALE_TEST_POSTGRES_URL pointing at it, stops the server and exits with CMD's code.
Without the binaries it prints why and exits 0. initdb refuses to run as root, so as root the server
runs as the `postgres` user (runuser)."""

from __future__ import annotations

import glob
import os
import pwd
import shutil
import socket
import subprocess
import sys
import tempfile
from pathlib import Path


def find_bin_dir() -> Path | None:
    """The newest /usr/lib/postgresql/<major>/bin holding initdb and pg_ctl."""
    candidates = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"), key=lambda p: int(Path(p).parent.parent.name))
    for initdb in reversed(candidates):
        bin_dir = Path(initdb).parent
        if (bin_dir / "pg_ctl").exists():
            return bin_dir
    return None


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _as_server_user(argv: list[str]) -> list[str]:
    if os.geteuid() != 0:
        return argv
    return [shutil.which("runuser") or "/sbin/runuser", "-u", "postgres", "--", *argv]


class PostgresServer:
    def __init__(self, bin_dir: Path) -> None:
        self.bin_dir = bin_dir
        self.port = free_port()
        self.root = Path(tempfile.mkdtemp(prefix="scale-pg-"))
        self.data = self.root / "data"
        self.sockets = self.root / "sockets"
        self.url = f"postgresql+psycopg://scale@127.0.0.1:{self.port}/postgres"

    def start(self) -> None:
        self.sockets.mkdir()
        if os.geteuid() == 0:
            user = pwd.getpwnam("postgres")
            os.chown(self.root, user.pw_uid, user.pw_gid)
            os.chown(self.sockets, user.pw_uid, user.pw_gid)
        run = lambda *argv: subprocess.run(_as_server_user([str(a) for a in argv]), check=True, capture_output=True)  # noqa: E731
        run(self.bin_dir / "initdb", "-D", self.data, "-U", "scale", "--auth=trust", "-E", "UTF8", "--no-sync")
        options = f"-p {self.port} -k {self.sockets} -c listen_addresses=127.0.0.1 -c fsync=off -c max_connections=200"
        run(self.bin_dir / "pg_ctl", "-D", self.data, "-o", options, "-l", self.root / "server.log", "-w", "start")

    def stop(self) -> None:
        subprocess.run(
            _as_server_user([str(self.bin_dir / "pg_ctl"), "-D", str(self.data), "-m", "fast", "-w", "stop"]),
            capture_output=True,
        )
        shutil.rmtree(self.root, ignore_errors=True)


def main(argv: list[str]) -> int:
    command = argv[argv.index("--") + 1 :] if "--" in argv else argv
    bin_dir = find_bin_dir()
    if bin_dir is None:
        print("PostgreSQL stage skipped: no /usr/lib/postgresql/*/bin/initdb (apt-get install postgresql)")
        return 0
    server = PostgresServer(bin_dir)
    try:
        server.start()
    except subprocess.CalledProcessError as exc:
        print(f"PostgreSQL did not start: {exc.stderr.decode(errors='replace')}", file=sys.stderr)
        return 1
    try:
        print(f"PostgreSQL {bin_dir.parent.name} on {server.url}", flush=True)
        return subprocess.call(command, env=dict(os.environ, SCALE_TEST_POSTGRES_URL=server.url))
    finally:
        server.stop()


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
