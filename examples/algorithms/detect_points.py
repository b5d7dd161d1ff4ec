"""The specification's detect_points example, in miniature: reads a GeoTIFF and writes a GeoJSON
whose one feature records how many bytes it read.

usage: detect_points.py <image> <job_output_dir>
"""

import json
import os
import sys

image, out_dir = sys.argv[1:3]
with open(image, "rb") as fh:
    size = len(fh.read())
out_path = os.path.join(out_dir, os.path.splitext(os.path.basename(image))[0] + ".geojson")
feature = {"type": "Feature", "geometry": {"type": "Point", "coordinates": [0, 0]}, "properties": {"bytes_read": size}}
with open(out_path, "w", encoding="utf-8") as fh:
    json.dump({"type": "FeatureCollection", "features": [feature]}, fh)
with open(os.path.join(out_dir, "results_manifest.json"), "w", encoding="utf-8") as fh:
    json.dump({"version": "1.1", "output_data": [{"name": "geo_image", "file": {"path": out_path}}]}, fh)
print(f"read {size} bytes from {image}")
