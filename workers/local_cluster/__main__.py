"""`python -m workers.local_cluster`: run the local cluster until SIGTERM or SIGINT."""

from __future__ import annotations

import argparse
import logging
import signal
import sys
import threading
from typing import Any

from workers.local_cluster.cluster import LocalCluster
from workers.local_cluster.resources import parse_attributes

log = logging.getLogger("workers.local_cluster")


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
