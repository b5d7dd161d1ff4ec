"""Parse results: a completed job's results manifest may describe the source files it read.

Called by the post step inside the transaction that completes the job, so the PARSE trigger rules fire
exactly once per completed job (a job is finished once). File moves inside a workspace are idempotent:
if the transaction is rolled back and the finish runs again, a file already at its new path stays there.
"""

from __future__ import annotations

import json
import logging
import posixpath
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Iterable

from sqlalchemy import select
from sqlalchemy.orm import Session

from app.db import utcnow
from app.models import Job, JobExecution, ScaleFile
from app.services import triggers
from app.mesos import exe_dir
from app.services.workspaces import WorkspacePathError, broker_for
from app.specs.job_data import input_file_ids

log = logging.getLogger(__name__)


def _parse_time(value: str | None) -> datetime | None:
    if not value:
        return None
    parsed = datetime.fromisoformat(value.strip().replace("Z", "+00:00").replace("z", "+00:00"))
    # A time without a zone is read as UTC (the manifest examples carry none).
    return parsed.replace(tzinfo=timezone.utc) if parsed.tzinfo is None else parsed.astimezone(timezone.utc)


def _coordinates(node: Any) -> Iterable[tuple[float, float]]:
    """Every (x, y) position in a GeoJSON coordinates array, whatever its nesting."""
    if isinstance(node, (list, tuple)):
        if len(node) >= 2 and all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in node[:2]):
            yield float(node[0]), float(node[1])
        else:
            for child in node:
                yield from _coordinates(child)


def _geometry_points(geometry: dict) -> list[tuple[float, float]]:
    if geometry.get("type") == "GeometryCollection":
        return [p for g in geometry.get("geometries", []) if isinstance(g, dict) for p in _geometry_points(g)]
    return list(_coordinates(geometry.get("coordinates")))


def geo_fields(geo_json: dict) -> tuple[dict | None, dict | None, dict]:
    """(geometry, center point, properties) of a GeoJSON geometry, Feature or FeatureCollection."""
    kind = geo_json.get("type")
    properties: dict = {}
    if kind == "Feature":
        geometry = geo_json.get("geometry")
        properties = geo_json.get("properties") or {}
    elif kind == "FeatureCollection":
        geometries = [
            f.get("geometry") for f in geo_json.get("features", []) if isinstance(f, dict) and f.get("geometry")
        ]
        geometry = {"type": "GeometryCollection", "geometries": geometries} if geometries else None
    else:
        geometry = geo_json
    if not isinstance(geometry, dict):
        return None, None, properties
    points = _geometry_points(geometry)
    center = None
    if points:
        xs, ys = [p[0] for p in points], [p[1] for p in points]
        # The centre of the bounding box: stable and cheap, good enough for locating a footprint.
        center = {"type": "Point", "coordinates": [(min(xs) + max(xs)) / 2, (min(ys) + max(ys)) / 2]}
    return geometry, center, properties


def _gis_file(session: Session, job: Job, path: str) -> dict | None:
    """The GeoJSON named by a 1.0 `gis_data_path` (absolute, or relative to the execution's output directory)."""
    candidate = Path(path)
    if not candidate.is_absolute():
        exe_id = session.scalar(
            select(JobExecution.id).where(JobExecution.job_id == job.id).order_by(JobExecution.id.desc()).limit(1)
        )
        if exe_id is None:
            return None
        candidate = exe_dir(exe_id) / "outputs" / path
    try:
        with open(candidate, encoding="utf-8") as fh:
            loaded = json.load(fh)
    except (OSError, ValueError) as exc:
        log.warning("job %s: cannot read gis_data_path %s: %s", job.id, candidate, exc)
        return None
    return loaded if isinstance(loaded, dict) else None


def _move(source: ScaleFile, new_workspace_path: str, job_id: int) -> None:
    directory = new_workspace_path.strip().strip("/")
    new_rel = posixpath.join(directory, source.file_name) if directory else source.file_name
    if new_rel == source.file_path:
        return
    try:
        broker_for(source.workspace.json_config).move(source.file_path, new_rel)
    except (OSError, ValueError, KeyError, WorkspacePathError) as exc:
        # A bad path from the algorithm must not lose the file or fail the job: the file stays put.
        log.warning("job %s: cannot move source file %s to %s: %s", job_id, source.id, new_rel, exc)
        return
    source.file_path = new_rel


def apply_parse_results(session: Session, job: Job, manifest: dict) -> list[int]:
    """Update the source files named in `parse_results`, fire the PARSE rules for them, return their ids."""
    results = manifest.get("parse_results") or []
    if not results:
        return []
    ids = [fid for fids in input_file_ids(job.data or {}).values() for fid in fids]
    if not ids:
        return []
    by_name: dict[str, ScaleFile] = {}
    for source in session.scalars(
        select(ScaleFile).where(ScaleFile.id.in_(ids), ScaleFile.file_type == "SOURCE").order_by(ScaleFile.id)
    ):
        by_name.setdefault(source.file_name, source)
    updated: list[ScaleFile] = []
    now = utcnow()
    for result in results:
        source = by_name.get(result.get("filename"))
        if source is None:
            log.info(
                "job %s: parse result for %s, which is not one of its source inputs, ignored",
                job.id,
                result.get("filename"),
            )
            continue
        if source in updated:
            continue
        tags = triggers.file_data_types(source.data_type)
        tags += [t for t in result.get("data_types") or [] if t not in tags]
        source.data_type = ",".join(tags) or None
        geo = result.get("geo_metadata") or {}
        try:
            started, ended = _parse_time(geo.get("data_started")), _parse_time(geo.get("data_ended"))
        except ValueError as exc:
            log.warning("job %s: bad data time in parse result for %s: %s", job.id, source.file_name, exc)
            started = ended = None
        source.data_started = started or source.data_started
        source.data_ended = ended or source.data_ended
        geo_json = geo.get("geo_json")
        if geo_json is None and result.get("gis_data_path"):
            geo_json = _gis_file(session, job, result["gis_data_path"])
        if isinstance(geo_json, dict):
            geometry, center, properties = geo_fields(geo_json)
            if geometry is not None:
                source.geometry = geometry
                source.center_point = center
            if properties:
                source.meta_data = {**(source.meta_data or {}), **properties}
        if result.get("new_workspace_path"):
            _move(source, result["new_workspace_path"], job.id)
        source.is_parsed = True
        source.parsed = now
        source.last_modified = now
        updated.append(source)
    session.flush()
    if updated:
        rules = triggers.RuleSet(session, "PARSE")
        for source in updated:
            triggers.fire_parse_rules(session, source, job_id=job.id, rules=rules)
    return [s.id for s in updated]
