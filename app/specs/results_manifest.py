"""Results manifest 1.0 / 1.1: what a finished algorithm says it produced and parsed.

Everything is returned in the 1.1 form. Outputs may also be announced on stdout with lines
`ARTIFACT:<output name>:<path>`; the manifest wins when both name the same output.
"""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any, Iterable

from app.specs.base import (
    Collector,
    Problem,
    check_unknown_fields,
    check_version,
    describe,
    get_list,
    get_object,
    get_str,
    get_str_list,
    root_object,
)

WHAT = "results manifest"
LATEST = "1.1"
SUPPORTED = ("1.0", "1.1")
_ARTIFACT_LINE = re.compile(r"^ARTIFACT:([^:\r\n]*):([^\r\n]*)\r?$", re.MULTILINE)


def _check_datetime(obj: dict, key: str, where: str, c: Collector) -> str | None:
    value = get_str(obj, key, where, c)
    if value is None:
        return None
    try:
        datetime.fromisoformat(value.strip())
    except ValueError:
        c.add("INVALID_DATETIME", f"{where}: '{key}' value '{value}' is not an ISO-8601 date/time")
        return None
    return value


def _geo_metadata(raw: Any, where: str, c: Collector) -> dict | None:
    if raw is None:
        return None
    if not isinstance(raw, dict):
        c.add("INVALID_TYPE", f"{where}: 'geo_metadata' must be an object, got {describe(raw)}")
        return None
    gwhere = f"{where}: geo_metadata"
    result: dict[str, Any] = {}
    for key in ("data_started", "data_ended"):
        value = _check_datetime(raw, key, gwhere, c)
        if value is not None:
            result[key] = value
    geo_json = get_object(raw, "geo_json", gwhere, c)
    if geo_json is not None:
        result["geo_json"] = geo_json
    return result


def _file_entry(raw: Any, where: str, c: Collector) -> dict | None:
    if not isinstance(raw, dict):
        c.add("INVALID_TYPE", f"{where} must be an object with a 'path', got {describe(raw)}")
        return None
    path = get_str(raw, "path", where, c, required=True, non_blank=True)
    geo = _geo_metadata(raw.get("geo_metadata"), where, c)
    if path is None:
        return None
    entry: dict[str, Any] = {"path": path}
    if geo:
        entry["geo_metadata"] = geo
    return entry


def _output_data(raw_outputs: list, c: Collector) -> list[dict]:
    outputs: list[dict] = []
    seen: set[str] = set()
    for i, item in enumerate(raw_outputs):
        where = f"{WHAT}: output_data[{i}]"
        if not isinstance(item, dict):
            c.add("INVALID_TYPE", f"{where} must be an object, got {describe(item)}")
            continue
        name = get_str(item, "name", where, c, required=True, non_blank=True)
        if name is not None:
            where = f"{WHAT}: output '{name}'"
            if name in seen:
                c.add("DUPLICATE_NAME", f"{where} appears more than once")
                continue
            seen.add(name)
        has_file, has_files = item.get("file") is not None, item.get("files") is not None
        if has_file == has_files:
            c.add("INVALID_MANIFEST_OUTPUT", f"{where} must have exactly one of 'file' or 'files'")
            continue
        entry: dict[str, Any] = {"name": name}
        if has_file:
            file_entry = _file_entry(item["file"], f"{where}: file", c)
            if file_entry is None:
                continue
            entry["file"] = file_entry
        else:
            files = get_list(item, "files", where, c) or []
            entries = [_file_entry(f, f"{where}: files[{j}]", c) for j, f in enumerate(files)]
            if any(e is None for e in entries):
                continue
            entry["files"] = entries
        if name is not None:
            outputs.append(entry)
    return outputs


def _parse_results(raw_results: list, c: Collector) -> list[dict]:
    results: list[dict] = []
    seen: set[str] = set()
    for i, item in enumerate(raw_results):
        where = f"{WHAT}: parse_results[{i}]"
        if not isinstance(item, dict):
            c.add("INVALID_TYPE", f"{where} must be an object, got {describe(item)}")
            continue
        filename = get_str(item, "filename", where, c, required=True, non_blank=True)
        if filename is not None:
            if filename in seen:
                c.add("DUPLICATE_NAME", f"{where}: file '{filename}' has more than one parse result")
                continue
            seen.add(filename)
        entry: dict[str, Any] = {"filename": filename, "data_types": get_str_list(item, "data_types", where, c)}
        new_path = get_str(item, "new_workspace_path", where, c)
        if new_path:
            entry["new_workspace_path"] = new_path
        gis_path = get_str(item, "gis_data_path", where, c)
        if gis_path:
            entry["gis_data_path"] = gis_path
        geo = _geo_metadata(item.get("geo_metadata"), where, c) or {}
        # The 1.1 prose also lists data_started / data_ended directly on the parse result.
        for key in ("data_started", "data_ended"):
            value = _check_datetime(item, key, where, c)
            if value is not None and key not in geo:
                geo[key] = value
        if geo:
            entry["geo_metadata"] = geo
        if filename is not None:
            results.append(entry)
    return results


def _free_section(doc: dict, key: str, c: Collector) -> Any:
    """info and errors are not specified yet ("TODO" in the documentation): any array or object."""
    value = doc.get(key)
    if value is None:
        return []
    if not isinstance(value, (list, dict)):
        c.add("INVALID_TYPE", f"{WHAT}: '{key}' must be an array or an object, got {describe(value)}")
        return []
    return value


def _convert_1_0(doc: dict, c: Collector) -> dict:
    """The 1.0 form in 1.1 shape: files[{name, path|paths}] -> output_data, top-level times -> geo_metadata."""
    converted: dict[str, Any] = {"version": LATEST}
    output_data: list[dict[str, Any]] = []
    for i, item in enumerate(get_list(doc, "files", WHAT, c) or []):
        where = f"{WHAT} 1.0: files[{i}]"
        if not isinstance(item, dict):
            c.add("INVALID_TYPE", f"{where} must be an object, got {describe(item)}")
            continue
        name = get_str(item, "name", where, c, required=True, non_blank=True)
        if name is None:
            continue
        has_path, has_paths = item.get("path") is not None, item.get("paths") is not None
        if has_path == has_paths:
            c.add("INVALID_MANIFEST_OUTPUT", f"{where} must have exactly one of 'path' or 'paths'")
            continue
        if has_path:
            output_data.append({"name": name, "file": {"path": item["path"]}})
        elif not isinstance(item["paths"], list):
            c.add("INVALID_TYPE", f"{where}: 'paths' must be an array of strings, got {describe(item['paths'])}")
        else:
            output_data.append({"name": name, "files": [{"path": p} for p in item["paths"]]})
    converted["output_data"] = output_data
    converted["parse_results"] = get_list(doc, "parse_results", WHAT, c) or []
    for key in ("info", "errors"):
        if key in doc:
            converted[key] = doc[key]
    return converted


def parse_results_manifest(doc: dict | None) -> dict:
    """Validate a results manifest (1.0 or 1.1; missing version = 1.1) and return it in 1.1 form.

    None (no manifest written) is an empty manifest. Raises SpecError listing every problem.
    """
    c = Collector()
    doc = root_object(doc, WHAT, c)
    c.raise_if_any()
    version = check_version(doc, WHAT, c, supported=SUPPORTED, default=LATEST)
    c.raise_if_any()
    if version == "1.0":
        check_unknown_fields(doc, ("version", "files", "parse_results", "info", "errors"), f"{WHAT} 1.0", c)
        doc = _convert_1_0(doc, c)
    else:
        check_unknown_fields(doc, ("version", "output_data", "parse_results", "info", "errors"), WHAT, c)
    manifest = {
        "version": LATEST,
        "output_data": _output_data(get_list(doc, "output_data", WHAT, c) or [], c),
        "parse_results": _parse_results(get_list(doc, "parse_results", WHAT, c) or [], c),
        "info": _free_section(doc, "info", c),
        "errors": _free_section(doc, "errors", c),
    }
    c.raise_if_any()
    return manifest


# ---------------------------------------------------------------- stdout artifacts


def parse_artifact_lines(text: str | None) -> list[tuple[str, str]]:
    """(output name, path) for every stdout line `ARTIFACT:<name>:<path>`, in order.

    The path is everything after the second colon (paths may hold colons); lines with an empty name
    or path are ignored.
    """
    found: list[tuple[str, str]] = []
    for match in _ARTIFACT_LINE.finditer(text or ""):
        name, path = match.group(1).strip(), match.group(2).strip()
        if name and path:
            found.append((name, path))
    return found


def merge_artifacts(manifest: dict, artifacts: Iterable[tuple[str, str]]) -> dict:
    """A copy of a 1.1 manifest with stdout artifacts added for outputs the manifest does not name.

    One line for a name gives a `file`, several give `files`; the manifest takes precedence.
    """
    merged = dict(manifest)
    present = {entry["name"] for entry in manifest.get("output_data", [])}
    grouped: dict[str, list[str]] = {}
    for name, path in artifacts:
        if name not in present:
            grouped.setdefault(name, []).append(path)
    extra = [
        {"name": name, "file": {"path": paths[0]}}
        if len(paths) == 1
        else {"name": name, "files": [{"path": p} for p in paths]}
        for name, paths in grouped.items()
    ]
    merged["output_data"] = list(manifest.get("output_data", [])) + extra
    return merged


def match_manifest_to_interface(manifest: dict, interface: dict) -> tuple[dict, list[Problem]]:
    """Fit a 1.1 manifest's outputs to a job interface's outputs.

    Outputs the interface does not declare are dropped with a warning (IGNORED_OUTPUT). A single `file`
    for a "files" output becomes a one-element `files` and a one-element `files` for a "file" output
    becomes `file` (stdout artifacts cannot say which was meant). Raises SpecError for a missing
    required output or several files given to a "file" output.
    """
    c = Collector()
    specs = {entry["name"]: entry for entry in interface.get("output_data", [])}
    kept: list[dict] = []
    present: set[str] = set()
    for entry in manifest.get("output_data", []):
        name = entry["name"]
        spec = specs.get(name)
        if spec is None:
            c.warn("IGNORED_OUTPUT", f"{WHAT}: output '{name}' is not an output of the job interface and is ignored")
            continue
        present.add(name)
        if spec["type"] == "files" and "file" in entry:
            entry = {"name": name, "files": [entry["file"]]}
        elif spec["type"] == "file" and "files" in entry:
            if len(entry["files"]) != 1:
                c.add(
                    "INVALID_MANIFEST_OUTPUT",
                    f"{WHAT}: output '{name}' is a single file output but {len(entry['files'])} files were given",
                )
                continue
            entry = {"name": name, "file": entry["files"][0]}
        kept.append(entry)
    for name, spec in specs.items():
        if spec.get("required", True) and name not in present:
            c.add("MISSING_REQUIRED_OUTPUT", f"{WHAT}: required output '{name}' was not produced")
    c.raise_if_any()
    return {**manifest, "output_data": kept}, c.warnings
