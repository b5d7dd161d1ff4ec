import sys

print("exiting with", sys.argv[1], file=sys.stderr)
sys.exit(int(sys.argv[1]))
