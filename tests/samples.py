"""Example documents from the specification, as fresh copies (tests may change them freely).

The job type, recipe type and import examples are the documentation's own; their trigger rules name
the workspaces "rs" and "products", so create those first (`workspace(name, path)`).
"""

from __future__ import annotations

import json
from typing import Any

from tests.test_specs_examples import IMPORT_CONFIGURATION, MYJOB_RECIPE_DEFINITION, TEST_CMD_INTERFACE


def _copy(doc: dict) -> dict:
    # Through JSON, not deepcopy: the examples share sub-documents, and a test changing one must not change both.
    return json.loads(json.dumps(doc))


# POST /job-types/ example
_JOB_TYPE: dict[str, Any] = {
    "name": "my-job",
    "version": "1.0",
    "title": "My Job",
    "description": "This is a description of the job",
    "category": "test",
    "author_name": None,
    "author_url": None,
    "is_long_running": False,
    "is_operational": True,
    "is_paused": False,
    "icon_code": "f1c5",
    "docker_privileged": False,
    "docker_image": None,
    "priority": 1,
    "timeout": 0,
    "max_tries": 0,
    "cpus_required": 0.5,
    "mem_required": 64.0,
    "disk_out_const_required": 64.0,
    "disk_out_mult_required": 0.0,
    "interface": TEST_CMD_INTERFACE,
    "error_mapping": {"version": "1.0", "exit_codes": {"1": "unknown"}},
    "trigger_rule": {
        "type": "PARSE",
        "is_active": True,
        "configuration": {
            "version": "1.0",
            "condition": {"media_type": "image/png", "data_types": []},
            "data": {"input_data_name": "input_file", "workspace_name": "rs"},
        },
    },
}

# POST /recipe-types/ example; it uses job types my-job1 1.2.3 and my-job2 4.5.6
_RECIPE_TYPE: dict[str, Any] = {
    "name": "my-recipe",
    "version": "1.0",
    "title": "My Recipe",
    "description": "This is a description of the recipe",
    "definition": MYJOB_RECIPE_DEFINITION,
    "trigger_rule": {
        "type": "PARSE",
        "is_active": True,
        "configuration": {
            "version": "1.0",
            "condition": {"media_type": "text/plain", "data_types": []},
            "data": {"input_data_name": "input_file", "workspace_name": "rs"},
        },
    },
}

# The import/export example of the documentation (its trigger rules use the workspace "products")
_CONFIGURATION: dict[str, Any] = IMPORT_CONFIGURATION


def job_type() -> dict:
    return _copy(_JOB_TYPE)


def recipe_type() -> dict:
    return _copy(_RECIPE_TYPE)


def configuration() -> dict:
    return _copy(_CONFIGURATION)


def text_job_type(name: str, version: str) -> dict:
    """A job type taking one text/plain file `input_file` (what the recipe type example's jobs need)."""
    doc = job_type()
    doc.update(name=name, version=version, title=name)
    doc["interface"]["input_data"][0]["media_types"] = ["text/plain"]
    del doc["trigger_rule"]
    return doc


def workspace(name: str, path: str, **fields: Any) -> dict:
    """A workspace on a host directory (the broker the local cluster uses)."""
    doc = {
        "name": name,
        "title": name.title(),
        "description": f"{name} workspace",
        "base_url": f"http://host.com/{name}",
        "json_config": {"version": "1.0", "broker": {"type": "host", "host_path": path}},
    }
    doc.update(fields)
    return doc
