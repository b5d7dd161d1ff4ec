"""A recipe's dependency graph (worked out once per definition and cached) and where a requeued job of a
recipe must wait. No other service is imported here: jobs and recipes both build on it."""

from __future__ import annotations

import json
from collections import OrderedDict
from dataclasses import dataclass

from sqlalchemy import Text, cast, select
from sqlalchemy.orm import Session

from app.models import Job, Recipe, RecipeJob, RecipeTypeRevision
from app.specs.recipe_definition import job_by_name, parents, topological_order, validate_recipe_definition_structure

# A parent in one of these states keeps its descendants from ever running until it is requeued.
BLOCKING_STATUSES = frozenset({"FAILED", "CANCELED", "BLOCKED"})
# Only jobs that never ran are moved by the recipe; every other status belongs to the execution lifecycle.
WAITING_STATUSES = frozenset({"PENDING", "BLOCKED"})


@dataclass(frozen=True)
class RecipeGraph:
    """A normalized definition with its dependency structure worked out once."""

    definition: dict
    order: list[str]
    parents_of: dict[str, set[str]]
    jobs: dict[str, dict]


def _graph(definition: dict) -> RecipeGraph:
    normalized, _ = validate_recipe_definition_structure(definition)
    return RecipeGraph(normalized, topological_order(normalized), parents(normalized), job_by_name(normalized))


# Normalizing a large definition costs far more than reading it, and every update of a recipe needs it.
# Keyed by the stored JSON text, so a different database (or revision) can never get a stale entry.
_GRAPH_CACHE: OrderedDict[str, RecipeGraph] = OrderedDict()
_GRAPH_CACHE_SIZE = 64


class GraphCache:
    """Definitions per recipe type revision id (raises SpecError for one that is no longer valid)."""

    def __init__(self, session: Session) -> None:
        self.session = session
        self.graphs: dict[int, RecipeGraph] = {}

    def get(self, rev_id: int) -> RecipeGraph:
        graph = self.graphs.get(rev_id)
        if graph is None:
            text = self.session.scalar(
                select(cast(RecipeTypeRevision.definition, Text)).where(RecipeTypeRevision.id == rev_id)
            )
            graph = _GRAPH_CACHE.get(text)
            if graph is None:
                graph = _graph(json.loads(text))
                _GRAPH_CACHE[text] = graph
                while len(_GRAPH_CACHE) > _GRAPH_CACHE_SIZE:
                    _GRAPH_CACHE.popitem(last=False)
            else:
                _GRAPH_CACHE.move_to_end(text)
            self.graphs[rev_id] = graph
        return graph


def blocked_or_pending(session: Session, job: Job) -> str | None:
    """Where a requeued job must wait: None (queue it now), "BLOCKED" or "PENDING".

    None when the job is in no recipe, or when all its recipe parents are COMPLETED and its data was built.
    A job canceled before its parents finished never got its data; it waits as PENDING and the recipe update
    (sent after the requeue) builds the data and queues it.
    """
    links = session.execute(
        select(RecipeJob.recipe_id, RecipeJob.job_name, Recipe.recipe_type_rev_id)
        .join(Recipe, Recipe.id == RecipeJob.recipe_id)
        .where(RecipeJob.job_id == job.id)
    ).all()
    if not links:
        return None
    graphs = GraphCache(session)
    waiting: str | None = None
    for recipe_id, job_name, rev_id in links:
        parent_names = graphs.get(rev_id).parents_of.get(job_name, set())
        parent_statuses = (
            list(
                session.scalars(
                    select(Job.status)
                    .join(RecipeJob, RecipeJob.job_id == Job.id)
                    .where(RecipeJob.recipe_id == recipe_id, RecipeJob.job_name.in_(sorted(parent_names)))
                )
            )
            if parent_names
            else []
        )
        if any(s in BLOCKING_STATUSES for s in parent_statuses):
            return "BLOCKED"
        if len(parent_statuses) < len(parent_names) or any(s != "COMPLETED" for s in parent_statuses):
            waiting = "PENDING"
    if waiting is None and job.data is None:
        waiting = "PENDING"
    return waiting
