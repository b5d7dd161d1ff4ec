"""Configure a running system (`make run`) for the README's walk-through, through the REST API only.

    .venv/bin/python scripts/demo.py [--api http://127.0.0.1:8000]   (default: $SCALE_API_URL, else API_HOST:API_PORT)

Creates (once; running it again changes nothing): workspaces `raw` and `products`, a Strike `demo`
watching $SCALE_VAR_DIR/mounts/localhost/strike, a job type `word-count` with an INGEST trigger for
text files, and the specification's geotiff example (job types `geotiff-maker` 1.2.3 and
`point-detector` 4.5.6, recipe type `geotiff-recipe`). Where podman (or docker) and Debian's
busybox-static are installed it also builds a local image `localhost/scale-demo-busybox:1` (no registry
needed) and registers the container job type `line-count` that runs in it.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

import requests

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from app.services.workspaces import mount_path  # noqa: E402
from app.settings import settings  # noqa: E402

ALGORITHMS = ROOT / "examples" / "algorithms"
PYTHON = sys.executable


def command(script: str) -> str:
    return f"{PYTHON} {ALGORITHMS / script}"


def ensure(api: str, list_path: str, create_path: str, body: dict, match: dict) -> dict:
    """Create unless an item with the `match` fields exists; returns the item."""
    listing = requests.get(f"{api}{list_path}", params={"page_size": 1000}, timeout=30).json()
    for item in listing.get("results", []):
        if all(item.get(k) == v for k, v in match.items()):
            print(f"exists   {list_path} {match}")
            return item
    response = requests.post(f"{api}{create_path}", json=body, timeout=30)
    if response.status_code >= 300:
        raise SystemExit(f"POST {create_path} failed ({response.status_code}): {response.text}")
    print(f"created  {list_path} {match}")
    return response.json()


def workspace(api: str, name: str) -> dict:
    path = settings.var_dir / "workspaces" / name
    path.mkdir(parents=True, exist_ok=True)
    return ensure(
        api,
        "/workspaces/",
        "/workspaces/",
        {
            "name": name,
            "title": name.title(),
            "description": f"Demo workspace {name}",
            "base_url": f"file://{path}",
            "is_active": True,
            "json_config": {"version": "1.0", "broker": {"type": "host", "host_path": str(path)}},
        },
        {"name": name},
    )


def file_job_type(
    api: str,
    name: str,
    version: str,
    script: str,
    inputs: list[tuple[str, str]],
    output: str,
    media_type: str,
    trigger_rule: dict | None = None,
) -> dict:
    arguments = " ".join([f"${{{i}}}" for i, _ in inputs] + ["${job_output_dir}"])
    body = {
        "name": name,
        "version": version,
        "title": name,
        "description": f"Demo job type {name}",
        "max_tries": 3,
        "cpus_required": 0.25,
        "mem_required": 64.0,
        "interface": {
            "version": "1.0",
            "command": command(script),
            "command_arguments": arguments,
            "input_data": [{"name": i, "type": "file", "media_types": [m]} for i, m in inputs],
            "output_data": [{"name": output, "type": "file", "media_type": media_type}],
        },
    }
    if trigger_rule:
        body["trigger_rule"] = trigger_rule
    return ensure(api, "/job-types/", "/job-types/", body, {"name": name, "version": version})


DEMO_IMAGE = "localhost/scale-demo-busybox:1"
# line-count <input file> <job_output_dir>: the input's line count as a product, with its results manifest.
LINE_COUNT = "\n".join(
    [
        'input="$1"; out="$2"',
        'wc -l < "$input" | tr -d " " > "$out/lines.txt"',
        'printf \'{"version": "1.1", "output_data": [{"name": "lines", "file": {"path": "%s"}}]}\' "$out/lines.txt"'
        ' > "$out/results_manifest.json"',
        'echo "counted the lines of $input in a container"',
    ]
)


def container_job_type(api: str) -> None:
    """The container job type `line-count`, on an image built here (skipped, saying why, without the tools)."""
    from workers.local_cluster.images import ImageUnavailable, build_busybox_image

    try:
        build_busybox_image(DEMO_IMAGE, {"line-count": LINE_COUNT})
    except ImageUnavailable as exc:
        print(f"skipped  the container job type line-count: {exc}")
        return
    ensure(api, "/job-types/", "/job-types/", line_count_job_type(), {"name": "line-count", "version": "1.0"})


def line_count_job_type() -> dict:
    return {
        "name": "line-count",
        "version": "1.0",
        "title": "line-count",
        "description": "Counts the lines of a text file, in a container",
        "docker_image": DEMO_IMAGE,
        "max_tries": 3,
        "cpus_required": 0.25,
        "mem_required": 64.0,
        "interface": {
            "version": "1.0",
            "command": "/bin/line-count",
            "command_arguments": "${input_file} ${job_output_dir}",
            "input_data": [{"name": "input_file", "type": "file", "media_types": ["text/plain"]}],
            "output_data": [{"name": "lines", "type": "file", "media_type": "text/plain"}],
        },
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument(
        "--api", default=os.environ.get("SCALE_API_URL") or f"http://{settings.API_HOST}:{settings.API_PORT}"
    )
    api = parser.parse_args().api.rstrip("/")
    try:
        requests.get(f"{api}/version/", timeout=10)
    except requests.RequestException as exc:
        print(
            f"The Scale API is not reachable at {api} ({type(exc).__name__}). Start it with `make run`, "
            "or pass --api / set SCALE_API_URL.",
            file=sys.stderr,
        )
        raise SystemExit(1) from None
    workspace(api, "raw")
    workspace(api, "products")
    file_job_type(
        api,
        "word-count",
        "1.0",
        "word_count.py",
        [("input_file", "text/plain")],
        "counts",
        "application/json",
        trigger_rule={
            "type": "INGEST",
            "is_active": True,
            "configuration": {
                "version": "1.0",
                "condition": {"media_type": "text/plain", "data_types": ["text"]},
                "data": {"input_data_name": "input_file", "workspace_name": "products"},
            },
        },
    )
    strike_dir = mount_path("localhost:/strike")
    strike_dir.mkdir(parents=True, exist_ok=True)
    ensure(
        api,
        "/strikes/",
        "/strike/create/",
        {
            "name": "demo",
            "title": "Demo",
            "description": "Watches the demo drop directory",
            "configuration": {
                "version": "1.0",
                "mount": "localhost:/strike",
                "transfer_suffix": "_tmp",
                "files_to_ingest": [
                    {
                        "filename_regex": r".*\.txt$",
                        "data_types": ["text"],
                        "workspace_path": "text",
                        "workspace_name": "raw",
                    },
                    {
                        "filename_regex": r".*\.(png|csv)$",
                        "data_types": ["geo"],
                        "workspace_path": "geo",
                        "workspace_name": "raw",
                    },
                ],
            },
        },
        {"name": "demo"},
    )
    file_job_type(
        api,
        "geotiff-maker",
        "1.2.3",
        "make_geotiff.py",
        [("image", "image/png"), ("georeference_data", "text/csv")],
        "geo_image",
        "image/tiff",
    )
    file_job_type(
        api,
        "point-detector",
        "4.5.6",
        "detect_points.py",
        [("image", "image/tiff")],
        "geo_image",
        "application/vnd.geo+json",
    )
    ensure(
        api,
        "/recipe-types/",
        "/recipe-types/",
        {
            "name": "geotiff-recipe",
            "version": "1.0",
            "title": "GeoTIFF recipe",
            "description": "make_geotiff -> detect_points, as in the specification",
            "definition": {
                "version": "1.0",
                "input_data": [
                    {"name": "image", "type": "file", "media_types": ["image/png"]},
                    {"name": "georeference_data", "type": "file", "media_types": ["text/csv"]},
                ],
                "jobs": [
                    {
                        "name": "make_geotiff",
                        "job_type": {"name": "geotiff-maker", "version": "1.2.3"},
                        "recipe_inputs": [
                            {"recipe_input": "image", "job_input": "image"},
                            {"recipe_input": "georeference_data", "job_input": "georeference_data"},
                        ],
                    },
                    {
                        "name": "detect_points",
                        "job_type": {"name": "point-detector", "version": "4.5.6"},
                        "dependencies": [
                            {"name": "make_geotiff", "connections": [{"output": "geo_image", "input": "image"}]}
                        ],
                    },
                ],
            },
        },
        {"name": "geotiff-recipe", "version": "1.0"},
    )
    container_job_type(api)
    print(f"\nDrop files into {strike_dir}/ (text files start a word-count job).")


if __name__ == "__main__":
    main()
