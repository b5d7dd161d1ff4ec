"""Example algorithm: counts the words of a text file.

usage: word_count.py <input_file> <job_output_dir>
Writes <name>.counts.json into the output directory and a results manifest naming it.
"""

import json
import os
import sys

input_path, out_dir = sys.argv[1], sys.argv[2]
with open(input_path, encoding="utf-8", errors="replace") as fh:
    words = fh.read().split()
out_path = os.path.join(out_dir, os.path.basename(input_path) + ".counts.json")
with open(out_path, "w", encoding="utf-8") as fh:
    json.dump({"file": os.path.basename(input_path), "words": len(words)}, fh)
with open(os.path.join(out_dir, "results_manifest.json"), "w", encoding="utf-8") as fh:
    json.dump({"version": "1.1", "output_data": [{"name": "counts", "file": {"path": out_path}}]}, fh)
print(f"{len(words)} words in {input_path}")
