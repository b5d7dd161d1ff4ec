"""A small algorithm for recipes: concatenates its input files into one output file.

usage: combine.py <output_name> <output_file_name> <input>... <job_output_dir>
An input may be a directory (a "files" input): every file in it is read. Writes results_manifest.json.
Exits 3 when an input contains the word FAIL (so tests can make one branch of a recipe fail).
"""

import json
import os
import sys

output_name, file_name, *inputs, out_dir = sys.argv[1:]
parts = []
for path in inputs:
    paths = sorted(os.path.join(path, n) for n in os.listdir(path)) if os.path.isdir(path) else [path]
    for p in paths:
        with open(p, encoding="utf-8") as fh:
            parts.append(fh.read())
text = "".join(parts) + f"[{output_name}]"
if "FAIL" in text:
    print("asked to fail", file=sys.stderr)
    sys.exit(3)
with open(os.path.join(out_dir, file_name), "w", encoding="utf-8") as fh:
    fh.write(text)
manifest = {
    "version": "1.1",
    "output_data": [{"name": output_name, "file": {"path": os.path.join(out_dir, file_name)}}],
}
with open(os.path.join(out_dir, "results_manifest.json"), "w", encoding="utf-8") as fh:
    json.dump(manifest, fh)
print(f"combined {len(parts)} inputs into {file_name}")
