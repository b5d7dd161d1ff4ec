"""Prints COUNT numbered lines, one every DELAY seconds, so tests can follow a running job's output."""

import sys
import time

count, delay = int(sys.argv[1]), float(sys.argv[2])
for n in range(1, count + 1):
    print(f"line {n}", flush=True)
    time.sleep(delay)
