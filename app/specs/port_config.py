"""Import/export configuration 1.0: errors, job types and recipe types moved between installations.

Validation is structural plus every nested specification (job interfaces, error mappings, recipe
definitions, trigger rules). Items may carry extra exported fields (ids, timestamps), which are
ignored. Database checks are optional callables: with `lookup_job_types`, recipe definitions are
checked against the job types of the document first and then the installation's; without it, only
job types defined in the document can be checked.
"""

from __future__ import annotations

from typing import Any, Mapping

from app.specs.base import (
    Collector,
    Problem,
    SpecError,
    check_unknown_fields,
    check_version,
    describe,
    get_list,
    get_object,
    get_str,
    is_int,
    is_number,
    root_object,
)
from app.specs.error_interface import validate_error_mapping
from app.specs.job_interface import validate_job_interface
from app.specs.recipe_definition import (
    JobTypeKey,
    LookupJobTypes,
    validate_recipe_definition,
    validate_recipe_definition_structure,
)
from app.specs.strike_config import LookupWorkspacesByName
from app.specs.trigger_config import (
    check_trigger_against_inputs,
    validate_clock_trigger,
    validate_ingest_trigger,
    validate_parse_trigger,
)

WHAT = "import configuration"
ERROR_CATEGORIES = ("SYSTEM", "ALGORITHM", "DATA")
TRIGGER_TYPES = ("INGEST", "PARSE", "CLOCK")
_OPTIONAL_STRINGS = ("title", "description", "category", "author_name", "author_url", "icon_code", "docker_image")
_BOOLEANS = (
    "is_operational",
    "is_long_running",
    "is_paused",
    "is_system",
    "uses_docker",
    "docker_privileged",
    "is_active",
)
_NON_NEGATIVE_INTS = ("timeout", "max_tries", "max_scheduled")
_NON_NEGATIVE_NUMBERS = ("cpus_required", "mem_required", "disk_out_const_required", "disk_out_mult_required")


def _check_fields(item: dict, where: str, c: Collector) -> None:
    for key in _OPTIONAL_STRINGS:
        if item.get(key) is not None and not isinstance(item[key], str):
            c.add("INVALID_TYPE", f"{where}: '{key}' must be a string or null, got {describe(item[key])}")
    for key in _BOOLEANS:
        if item.get(key) is not None and not isinstance(item[key], bool):
            c.add("INVALID_TYPE", f"{where}: '{key}' must be true or false, got {describe(item[key])}")
    if item.get("priority") is not None and not is_int(item["priority"]):
        c.add("INVALID_TYPE", f"{where}: 'priority' must be an integer, got {describe(item['priority'])}")
    for key in _NON_NEGATIVE_INTS:
        value = item.get(key)
        if value is not None and (not is_int(value) or value < 0):
            c.add("INVALID_TYPE", f"{where}: '{key}' must be an integer of 0 or more, got {value!r}")
    for key in _NON_NEGATIVE_NUMBERS:
        value = item.get(key)
        if value is not None and (not is_number(value) or value < 0):
            c.add("INVALID_TYPE", f"{where}: '{key}' must be a number of 0 or more, got {value!r}")


def _check_trigger_rule(
    item: dict,
    where: str,
    c: Collector,
    inputs: list[dict] | None,
    lookup_workspaces_by_name: LookupWorkspacesByName | None,
) -> dict | None:
    rule = get_object(item, "trigger_rule", where, c)
    if rule is None:
        return None
    rwhere = f"{where}: trigger_rule"
    rule_type = get_str(rule, "type", rwhere, c, required=True, non_blank=True)
    if rule.get("name") is not None and not isinstance(rule["name"], str):
        c.add("INVALID_TYPE", f"{rwhere}: 'name' must be a string, got {describe(rule['name'])}")
    if rule.get("is_active") is not None and not isinstance(rule["is_active"], bool):
        c.add("INVALID_TYPE", f"{rwhere}: 'is_active' must be true or false, got {describe(rule['is_active'])}")
    if rule_type is not None and rule_type not in TRIGGER_TYPES:
        c.add("INVALID_TYPE", f"{rwhere}: type '{rule_type}' is not one of {', '.join(TRIGGER_TYPES)}")
        return None
    configuration = get_object(rule, "configuration", rwhere, c, required=True)
    if configuration is None or rule_type is None:
        return None
    try:
        if rule_type == "CLOCK":
            normalized = validate_clock_trigger(configuration)
        else:
            validate = validate_ingest_trigger if rule_type == "INGEST" else validate_parse_trigger
            normalized = validate(configuration, lookup_workspaces_by_name=lookup_workspaces_by_name)
            if inputs is not None:
                input_types = {e["name"]: (e["type"], e.get("media_types") or []) for e in inputs}
                c.absorb_warnings(check_trigger_against_inputs(normalized, input_types), rwhere)
    except SpecError as exc:
        c.absorb(exc, rwhere)
        return None
    return {**rule, "configuration": normalized}


def normalize_import_configuration(
    doc: dict | None,
    *,
    lookup_job_types: LookupJobTypes | None = None,
    lookup_workspaces_by_name: LookupWorkspacesByName | None = None,
) -> tuple[dict, list[Problem]]:
    """Validate an import document and return (normalized document, warnings); raise SpecError listing
    every problem."""
    c = Collector()
    doc = root_object(doc, WHAT, c, allow_none=False)
    c.raise_if_any()
    version = check_version(doc, WHAT, c)
    check_unknown_fields(doc, ("version", "errors", "job_types", "recipe_types"), WHAT, c)

    errors: list[dict] = []
    error_names: set[str] = set()
    for i, item in enumerate(get_list(doc, "errors", WHAT, c) or []):
        where = f"{WHAT}: errors[{i}]"
        if not isinstance(item, dict):
            c.add("INVALID_TYPE", f"{where} must be an object, got {describe(item)}")
            continue
        name = get_str(item, "name", where, c, required=True, non_blank=True)
        if name is not None:
            where = f"{WHAT}: error '{name}'"
            if name in error_names:
                c.add("DUPLICATE_NAME", f"{where} appears more than once")
            error_names.add(name)
        for field in ("title", "description"):
            if item.get(field) is not None and not isinstance(item[field], str):
                c.add("INVALID_TYPE", f"{where}: '{field}' must be a string or null, got {describe(item[field])}")
        category = item.get("category")
        if category is not None and category not in ERROR_CATEGORIES:
            c.add("INVALID_CATEGORY", f"{where}: category {category!r} is not one of {', '.join(ERROR_CATEGORIES)}")
        errors.append(item)

    job_types: list[dict] = []
    interfaces: dict[JobTypeKey, dict] = {}
    seen_job_types: set[JobTypeKey] = set()
    for i, item in enumerate(get_list(doc, "job_types", WHAT, c) or []):
        where = f"{WHAT}: job_types[{i}]"
        if not isinstance(item, dict):
            c.add("INVALID_TYPE", f"{where} must be an object, got {describe(item)}")
            continue
        name = get_str(item, "name", where, c, required=True, non_blank=True)
        version_ = get_str(item, "version", where, c, required=True, non_blank=True)
        key = (name, version_) if name is not None and version_ is not None else None
        if key is not None:
            where = f"{WHAT}: job type {name} {version_}"
            if key in seen_job_types:
                c.add("DUPLICATE_NAME", f"{where} appears more than once")
            seen_job_types.add(key)
        _check_fields(item, where, c)
        normalized = dict(item)
        interface = None
        if item.get("interface") is not None:
            try:
                interface = validate_job_interface(item["interface"])
                normalized["interface"] = interface
                if key is not None:
                    interfaces[key] = interface
            except SpecError as exc:
                c.absorb(exc, where)
        if item.get("error_mapping") is not None:
            try:
                normalized["error_mapping"] = validate_error_mapping(item["error_mapping"])
            except SpecError as exc:
                c.absorb(exc, where)
        rule = _check_trigger_rule(
            item, where, c, interface["input_data"] if interface else None, lookup_workspaces_by_name
        )
        if rule is not None:
            normalized["trigger_rule"] = rule
        job_types.append(normalized)

    def combined_lookup(keys: list[JobTypeKey]) -> Mapping[JobTypeKey, dict]:
        # The document's own job types win: they are what the installation will have after import.
        found: dict[JobTypeKey, Any] = {k: interfaces[k] for k in keys if k in interfaces}
        missing = [k for k in keys if k not in found]
        if missing and lookup_job_types is not None:
            found.update(lookup_job_types(missing))
        return found

    recipe_types: list[dict] = []
    seen_recipe_types: set[JobTypeKey] = set()
    for i, item in enumerate(get_list(doc, "recipe_types", WHAT, c) or []):
        where = f"{WHAT}: recipe_types[{i}]"
        if not isinstance(item, dict):
            c.add("INVALID_TYPE", f"{where} must be an object, got {describe(item)}")
            continue
        name = get_str(item, "name", where, c, required=True, non_blank=True)
        version_ = get_str(item, "version", where, c, required=True, non_blank=True)
        if name is not None and version_ is not None:
            where = f"{WHAT}: recipe type {name} {version_}"
            if (name, version_) in seen_recipe_types:
                c.add("DUPLICATE_NAME", f"{where} appears more than once")
            seen_recipe_types.add((name, version_))
        for field in ("title", "description"):
            if item.get(field) is not None and not isinstance(item[field], str):
                c.add("INVALID_TYPE", f"{where}: '{field}' must be a string or null, got {describe(item[field])}")
        normalized = dict(item)
        definition = None
        if item.get("definition") is not None:
            try:
                raw = item["definition"]
                all_in_document = isinstance(raw, dict) and all(
                    isinstance(j, dict)
                    and isinstance(j.get("job_type"), dict)
                    and (j["job_type"].get("name"), j["job_type"].get("version")) in interfaces
                    for j in raw.get("jobs") or []
                )
                if lookup_job_types is not None or all_in_document:
                    definition, warnings = validate_recipe_definition(raw, lookup_job_types=combined_lookup)
                else:
                    definition, warnings = validate_recipe_definition_structure(raw)
                c.absorb_warnings(warnings, where)
                normalized["definition"] = definition
            except SpecError as exc:
                c.absorb(exc, where)
        rule = _check_trigger_rule(
            item, where, c, definition["input_data"] if definition else None, lookup_workspaces_by_name
        )
        if rule is not None:
            normalized["trigger_rule"] = rule
        recipe_types.append(normalized)

    c.raise_if_any()
    return {"version": version, "errors": errors, "job_types": job_types, "recipe_types": recipe_types}, c.warnings


def validate_import_configuration(
    doc: dict | None,
    *,
    lookup_job_types: LookupJobTypes | None = None,
    lookup_workspaces_by_name: LookupWorkspacesByName | None = None,
) -> list[Problem]:
    """Warnings for a valid import document; SpecError listing every problem for an invalid one."""
    _, warnings = normalize_import_configuration(
        doc, lookup_job_types=lookup_job_types, lookup_workspaces_by_name=lookup_workspaces_by_name
    )
    return warnings
