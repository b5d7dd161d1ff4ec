"""A job that records each real run: `start <task id>` when it begins, `end <task id>` when it completes."""

import os
import sys
import time

record, seconds = sys.argv[1], float(sys.argv[2])
task = os.environ.get("MESOS_TASK_ID", "?")


def note(what: str) -> None:
    fd = os.open(record, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
    try:
        os.write(fd, f"{what} {task} {time.time()}\n".encode())
    finally:
        os.close(fd)


note("start")
time.sleep(seconds)
note("end")
