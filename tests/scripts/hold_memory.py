import sys
import time

block = bytearray(int(sys.argv[1]) * 1024 * 1024)  # resident: bytearray zero-fills its pages
print("holding", len(block), flush=True)
time.sleep(float(sys.argv[2]))
