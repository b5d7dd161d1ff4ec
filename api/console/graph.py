"""Lay a recipe definition's jobs out as a left-to-right DAG for an SVG drawing."""

from __future__ import annotations

from dataclasses import dataclass, field

NODE_WIDTH, NODE_HEIGHT = 170, 46
COLUMN_GAP, ROW_GAP, MARGIN = 70, 24, 12


@dataclass
class Box:
    name: str
    job_type: str
    x: int
    y: int
    status: str | None = None
    job_id: int | None = None


@dataclass
class Graph:
    boxes: list[Box]
    edges: list[tuple[int, int, int, int]] = field(default_factory=list)  # x1, y1, x2, y2
    width: int = 0
    height: int = 0


def layout(definition: dict | None, jobs_by_name: dict | None = None) -> Graph:
    """Columns by longest path from a root; `jobs_by_name` (name -> Job) colours and links the boxes."""
    jobs = [j for j in (definition or {}).get("jobs", []) if isinstance(j, dict) and j.get("name")]
    parents = {j["name"]: [d.get("name") for d in j.get("dependencies") or [] if isinstance(d, dict)] for j in jobs}
    depth: dict[str, int] = {}

    def depth_of(name: str, seen: frozenset = frozenset()) -> int:
        if name not in depth:
            known = [p for p in parents.get(name, []) if p in parents and p not in seen]
            depth[name] = 1 + max((depth_of(p, seen | {name}) for p in known), default=-1)
        return depth[name]

    columns: dict[int, list[dict]] = {}
    for j in jobs:
        columns.setdefault(depth_of(j["name"]), []).append(j)
    boxes: dict[str, Box] = {}
    for col, members in sorted(columns.items()):
        for row, j in enumerate(members):
            job_type = j.get("job_type") or {}
            box = Box(
                j["name"],
                f"{job_type.get('name', '?')} {job_type.get('version', '')}".strip(),
                MARGIN + col * (NODE_WIDTH + COLUMN_GAP),
                MARGIN + row * (NODE_HEIGHT + ROW_GAP),
            )
            job = (jobs_by_name or {}).get(j["name"])
            if job is not None:
                box.status, box.job_id = job.status, job.id
            boxes[j["name"]] = box
    edges = [
        (boxes[p].x + NODE_WIDTH, boxes[p].y + NODE_HEIGHT // 2, boxes[n].x, boxes[n].y + NODE_HEIGHT // 2)
        for n, ps in parents.items()
        for p in ps
        if p in boxes and n in boxes
    ]
    width = MARGIN * 2 + max((b.x for b in boxes.values()), default=0) + NODE_WIDTH
    height = MARGIN * 2 + max((b.y for b in boxes.values()), default=0) + NODE_HEIGHT
    return Graph(list(boxes.values()), edges, width, height)
