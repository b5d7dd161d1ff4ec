"""A tiny algorithm: reads an optional input file, writes one output file and a results manifest.

usage: make_product.py <output_dir> <output_name> <file_name> [input_path] [--artifact]
"""

import json
import os
import sys

out_dir, output_name, file_name = sys.argv[1:4]
rest = sys.argv[4:]
artifact = "--artifact" in rest
rest = [a for a in rest if a != "--artifact"]
text = "made by make_product\n"
if rest:
    with open(rest[0], encoding="utf-8") as fh:
        text += "input said: " + fh.read()
path = os.path.join(out_dir, file_name)
with open(path, "w", encoding="utf-8") as fh:
    fh.write(text)
print(f"wrote {path}")
if artifact:
    print(f"ARTIFACT:{output_name}:{path}")
else:
    manifest = {
        "version": "1.1",
        "output_data": [{"name": output_name, "file": {"path": path}}],
        "parse_results": [],
        "errors": [],
    }
    with open(os.path.join(out_dir, "results_manifest.json"), "w", encoding="utf-8") as fh:
        json.dump(manifest, fh)
