"""Prints its arguments, one repr per line, so tests can see exactly what argv a job received."""

import sys

print(repr(sys.argv[1:]))
