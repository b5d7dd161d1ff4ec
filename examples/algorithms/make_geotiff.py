"""The specification's make_geotiff example, in miniature: combines an image and its georeference
data into one "GeoTIFF" (here: both files' bytes, so the next job can show what it read).

usage: make_geotiff.py <image> <georeference_data> <job_output_dir>
"""

import json
import os
import sys

image, georef, out_dir = sys.argv[1:4]
out_path = os.path.join(out_dir, os.path.splitext(os.path.basename(image))[0] + ".tif")
with open(out_path, "wb") as out:
    for path in (image, georef):
        with open(path, "rb") as fh:
            out.write(fh.read())
with open(os.path.join(out_dir, "results_manifest.json"), "w", encoding="utf-8") as fh:
    json.dump({"version": "1.1", "output_data": [{"name": "geo_image", "file": {"path": out_path}}]}, fh)
print(f"wrote {out_path}")
