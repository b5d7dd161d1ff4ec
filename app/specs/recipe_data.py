"""Recipe data 1.0: the values and files a recipe runs with, and the workspace for its jobs' products."""

from __future__ import annotations

from typing import Mapping

from app.specs.base import (
    Collector,
    Problem,
    check_unknown_fields,
    check_version,
    describe,
    get_list,
    is_int,
    root_object,
)
from app.specs.job_data import LookupFiles, LookupWorkspaces, check_input_data, check_workspaces
from app.specs.job_interface import has_file_outputs

WHAT = "recipe data"


def validate_recipe_data(
    data: dict | None,
    definition: dict,
    *,
    job_interfaces: Mapping[str, dict],
    lookup_files: LookupFiles,
    lookup_workspaces: LookupWorkspaces,
) -> tuple[dict, list[Problem]]:
    """Check recipe data against a normalized recipe definition; return (normalized data, warnings).

    `job_interfaces` maps each recipe job name to its job type's interface; `workspace_id` is required
    when any of those jobs produces files. Raises SpecError listing every problem.
    """
    c = Collector()
    data = root_object(data, WHAT, c)
    c.raise_if_any()
    version = check_version(data, WHAT, c)
    check_unknown_fields(data, ("version", "input_data", "workspace_id"), WHAT, c)

    specs = {entry["name"]: entry for entry in definition.get("input_data", [])}
    inputs = check_input_data(get_list(data, "input_data", WHAT, c) or [], specs, WHAT, c, lookup_files)

    producers = sorted(name for name, interface in job_interfaces.items() if has_file_outputs(interface))
    workspace_id = data.get("workspace_id")
    normalized = {"version": version, "input_data": inputs}
    if workspace_id is None:
        if producers:
            c.add(
                "MISSING_WORKSPACE",
                f"{WHAT}: 'workspace_id' is required because job(s) "
                f"{', '.join(repr(p) for p in producers)} produce output files",
            )
    elif not is_int(workspace_id):
        c.add("INVALID_TYPE", f"{WHAT}: 'workspace_id' must be an integer, got {describe(workspace_id)}")
    else:
        check_workspaces([("the recipe's products", workspace_id)], WHAT, c, lookup_workspaces)
        normalized["workspace_id"] = workspace_id

    c.raise_if_any()
    return normalized, c.warnings
