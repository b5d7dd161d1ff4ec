"""Ingest and parse trigger rules: a source file event creates the jobs and recipes whose rules match.

Rules are linked from `JobType.trigger_rule_id` and `RecipeType.trigger_rule_id`. Everything runs inside
the caller's transaction (the ingest or the job finish), so a rule fires exactly once per event; each
rule runs in its own savepoint so one bad rule never stops the others.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Iterable

from sqlalchemy import select
from sqlalchemy.orm import Session

from app.db import utcnow
from app.models import Job, JobType, JobTypeRevision, RecipeType, ScaleFile, TriggerEvent, TriggerRule, Workspace
from app.services import jobs as job_service
from app.specs.base import SpecError
from app.specs.job_data import validate_job_data
from app.specs.trigger_config import validate_ingest_trigger, validate_parse_trigger

log = logging.getLogger(__name__)

VALIDATORS = {"INGEST": validate_ingest_trigger, "PARSE": validate_parse_trigger}


@dataclass
class Fired:
    """What one event created."""

    event_ids: list[int] = field(default_factory=list)
    job_ids: list[int] = field(default_factory=list)
    recipe_ids: list[int] = field(default_factory=list)
    failed_rule_ids: list[int] = field(default_factory=list)


def file_data_types(value: str | None) -> list[str]:
    return [t for t in (value or "").split(",") if t]


def condition_matches(config: dict, media_type: str | None, data_types: Iterable[str]) -> bool:
    """A normalized ingest/parse rule matches when the media type is equal (if set) and every data type is tagged."""
    condition = config.get("condition") or {}
    wanted_media = condition.get("media_type") or ""
    if wanted_media and wanted_media != media_type:
        return False
    return set(condition.get("data_types") or []).issubset(set(data_types))


def _targets(session: Session, rule_ids: list[int]) -> tuple[dict[int, list[JobType]], dict[int, list[RecipeType]]]:
    """Active job types and recipe types linked to each rule."""
    job_types: dict[int, list[JobType]] = {}
    for jt in session.scalars(
        select(JobType)
        .where(JobType.trigger_rule_id.in_(rule_ids), JobType.is_active.is_(True), JobType.archived.is_(None))
        .order_by(JobType.id)
    ):
        job_types.setdefault(jt.trigger_rule_id, []).append(jt)
    recipe_types: dict[int, list[RecipeType]] = {}
    for rt in session.scalars(
        select(RecipeType)
        .where(RecipeType.trigger_rule_id.in_(rule_ids), RecipeType.is_active.is_(True), RecipeType.archived.is_(None))
        .order_by(RecipeType.id)
    ):
        recipe_types.setdefault(rt.trigger_rule_id, []).append(rt)
    return job_types, recipe_types


def _file_input(inputs: list[dict], name: str, what: str) -> dict:
    entry = next((i for i in inputs if i.get("name") == name), None)
    if entry is None:
        raise ValueError(f"{what} has no input named '{name}'")
    if entry.get("type") not in ("file", "files"):
        raise ValueError(f"{what} input '{name}' is a {entry.get('type')} input and cannot receive a file")
    return entry


def _input_value(entry: dict, file_id: int) -> dict:
    if entry["type"] == "files":
        return {"name": entry["name"], "file_ids": [file_id]}
    return {"name": entry["name"], "file_id": file_id}


def _launch_job(
    session: Session,
    job_type: JobType,
    revision: JobTypeRevision,
    config: dict,
    source: ScaleFile,
    workspace: Workspace,
    event: TriggerEvent,
) -> Job:
    interface = revision.interface or {}
    what = f"job type {job_type.name} {job_type.version}"
    entry = _file_input(interface.get("input_data", []), config["data"]["input_data_name"], what)
    data = {
        "version": "1.0",
        "input_data": [_input_value(entry, source.id)],
        "output_data": [{"name": o["name"], "workspace_id": workspace.id} for o in interface.get("output_data", [])],
    }
    # Validated here against the file and workspace already in hand (the job type's other required
    # inputs must not be missing), so create_job need not look them up again.
    data, _warnings = validate_job_data(
        data,
        interface,
        lookup_files=lambda ids: (
            {
                source.id: {
                    "media_type": source.media_type,
                    "file_size": source.file_size or 0,
                    "workspace_id": source.workspace_id,
                }
            }
            if source.id in ids
            else {}
        ),
        lookup_workspaces=lambda ids: {workspace.id: {"is_active": workspace.is_active}} if workspace.id in ids else {},
    )
    job, _ = job_service.create_job(
        session,
        job_type,
        data,
        event=event,
        validated=True,
        revision=revision,
        flush=False,  # with the event and the rule's other jobs, at the end of the rule's savepoint
        input_bytes=source.file_size or 0,
    )
    return job  # queued by `RuleSet.fire_many`, with the other jobs of the batch


def _launch_recipe(
    session: Session,
    recipe_type: RecipeType,
    config: dict,
    source: ScaleFile,
    workspace: Workspace,
    event: TriggerEvent,
) -> int:
    from app.services import recipes as recipe_service  # recipes import jobs; keep the import lazy

    what = f"recipe type {recipe_type.name} {recipe_type.version}"
    entry = _file_input((recipe_type.definition or {}).get("input_data", []), config["data"]["input_data_name"], what)
    data = {"version": "1.0", "input_data": [_input_value(entry, source.id)], "workspace_id": workspace.id}
    created = recipe_service.create_recipe(session, recipe_type, data, event=event)
    recipe = created[0] if isinstance(created, tuple) else created
    return recipe.id


class RuleSet:
    """The active rules of one type, with their targets, read once and checked against many files.

    Use one RuleSet per transaction (a batch of ingests shares it, through `fire_many`); `fire_file_rules` makes
    one per file.
    """

    def __init__(self, session: Session, rule_type: str) -> None:
        self.rule_type = rule_type
        self.invalid_rule_ids: list[int] = []
        self.rules: list[tuple[TriggerRule, dict]] = []
        validate = VALIDATORS[rule_type]
        for rule in session.scalars(
            select(TriggerRule)
            .where(TriggerRule.type == rule_type, TriggerRule.is_active.is_(True), TriggerRule.archived.is_(None))
            .order_by(TriggerRule.id)
        ):
            try:
                self.rules.append((rule, validate(rule.configuration)))
            except SpecError as exc:
                log.error(
                    "%s trigger rule %s (%s) has an invalid configuration, skipped: %s",
                    rule_type,
                    rule.id,
                    rule.name,
                    exc,
                )
                self.invalid_rule_ids.append(rule.id)
        self.job_types, self.recipe_types = _targets(session, [r.id for r, _ in self.rules]) if self.rules else ({}, {})
        # Rules without anything linked to them create nothing.
        self.rules = [(r, c) for r, c in self.rules if self.job_types.get(r.id) or self.recipe_types.get(r.id)]
        names = {c["data"]["workspace_name"] for _, c in self.rules}
        self.workspaces = (
            {w.name: w for w in session.scalars(select(Workspace).where(Workspace.name.in_(names)))} if names else {}
        )
        self._revisions: dict[int, JobTypeRevision] = {}

    def _revision(self, session: Session, job_type: JobType) -> JobTypeRevision:
        if job_type.id not in self._revisions:
            self._revisions[job_type.id] = job_service.current_revision(session, job_type)
        return self._revisions[job_type.id]

    def fire(self, session: Session, source: ScaleFile, description: dict) -> Fired:
        """For each matching rule: one TriggerEvent, one job per linked job type, one recipe per linked recipe type."""
        return self.fire_many(session, [(source, description)])[0]

    def fire_many(self, session: Session, events: list[tuple[ScaleFile, dict]]) -> list[Fired]:
        """`fire` for each (source file, description); the jobs created are queued together, in one statement."""
        fired = [self._fire(session, source, description) for source, description in events]
        job_service.queue_jobs(session, [job_id for f in fired for job_id in f.job_ids])
        return fired

    def _fire(self, session: Session, source: ScaleFile, description: dict) -> Fired:
        fired = Fired(failed_rule_ids=list(self.invalid_rule_ids))
        data_types = file_data_types(source.data_type)
        for rule, config in self.rules:
            if not condition_matches(config, source.media_type, data_types):
                continue
            try:
                with session.begin_nested():
                    workspace = self.workspaces.get(config["data"]["workspace_name"])
                    if workspace is None or not workspace.is_active:
                        raise ValueError(
                            f"output workspace '{config['data']['workspace_name']}' does not exist or is not active"
                        )
                    event = TriggerEvent(
                        type=self.rule_type, rule_id=rule.id, description=description, occurred=utcnow()
                    )
                    session.add(event)
                    created_jobs = [
                        _launch_job(session, jt, self._revision(session, jt), config, source, workspace, event)
                        for jt in self.job_types.get(rule.id, [])
                    ]
                    session.flush()  # the event and its jobs at once; a recipe needs its event's id
                    created_recipes = [
                        _launch_recipe(session, rt, config, source, workspace, event)
                        for rt in self.recipe_types.get(rule.id, [])
                    ]
            except Exception as exc:  # noqa: BLE001 - a bad rule is logged and the others still run
                log.error(
                    "%s trigger rule %s (%s) failed for file %s (%s): %s",
                    self.rule_type,
                    rule.id,
                    rule.name,
                    source.id,
                    source.file_name,
                    exc,
                )
                fired.failed_rule_ids.append(rule.id)
                continue
            fired.event_ids.append(event.id)
            fired.job_ids.extend(job.id for job in created_jobs)
            fired.recipe_ids.extend(created_recipes)
        return fired


def fire_file_rules(session: Session, rule_type: str, source: ScaleFile, description: dict) -> Fired:
    """Check one source file event (INGEST or PARSE) against every active rule of that type."""
    return RuleSet(session, rule_type).fire(session, source, description)


def ingest_description(source: ScaleFile, ingest_id: int | None = None, strike_id: int | None = None) -> dict:
    description = {"version": "1.0", "file_id": source.id, "file_name": source.file_name}
    if ingest_id is not None:
        description["ingest_id"] = ingest_id
    if strike_id is not None:
        description["strike_id"] = strike_id
    return description


def fire_ingest_rules(
    session: Session,
    source: ScaleFile,
    ingest_id: int | None = None,
    strike_id: int | None = None,
    rules: RuleSet | None = None,
) -> Fired:
    rules = rules or RuleSet(session, "INGEST")
    return rules.fire(session, source, ingest_description(source, ingest_id, strike_id))


def fire_parse_rules(
    session: Session, source: ScaleFile, job_id: int | None = None, rules: RuleSet | None = None
) -> Fired:
    description = {"version": "1.0", "file_id": source.id, "file_name": source.file_name}
    if job_id is not None:
        description["job_id"] = job_id
    rules = rules or RuleSet(session, "PARSE")
    return rules.fire(session, source, description)
