"""The peer a user would write instead of this system: a Celery task that runs the command as a child
process and counts it done. bench/throughput.py starts it as `celery -A bench.peer worker` on the same
Redis server as the system (its own database number, so neither sees the other's messages)."""

from __future__ import annotations

import os
import subprocess

import redis
from celery import Celery

BROKER_URL = os.environ.get("PEER_BROKER_URL", "redis://127.0.0.1:6379/1")

app = Celery("peer", broker=BROKER_URL)
app.conf.update(task_ignore_result=True, worker_hijack_root_logger=False)
_counter = redis.Redis.from_url(BROKER_URL)


@app.task
def run_command(argv: list[str], done_key: str) -> None:
    subprocess.run(argv, check=False)
    _counter.incr(done_key)
