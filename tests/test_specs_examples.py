"""Every example document of the specification (004, the Scale documentation) validates.

The examples are copied from the specification text; where the text is not valid JSON (trailing or
missing commas, "..." placeholders) the obvious JSON is used. Other spec test modules import these
constants. Fake database lookups here answer like the database would.
"""

from __future__ import annotations

import copy

import pytest

from app.specs.error_interface import validate_error_mapping
from app.specs.job_data import validate_job_data
from app.specs.job_interface import validate_job_interface
from app.specs.port_config import normalize_import_configuration, validate_import_configuration
from app.specs.recipe_data import validate_recipe_data
from app.specs.recipe_definition import topological_order, validate_recipe_definition
from app.specs.results_manifest import parse_results_manifest
from app.specs.strike_config import validate_strike_configuration
from app.specs.trigger_config import validate_clock_trigger, validate_ingest_trigger, validate_parse_trigger
from app.specs.workspace_config import validate_workspace_configuration

# ---------------------------------------------------------------- results manifest

MANIFEST_ONE_OUTPUT = {
    "version": "1.1",
    "output_data": [{"name": "output_file", "file": {"path": "/tmp/job_exe_231/outputs/output.csv"}}],
}

MANIFEST_PARSED_INPUT = {
    "version": "1.1",
    "parse_results": [
        {
            "filename": "myfile.h5",
            "data_types": ["H5", "VEG"],
            "geo_metadata": {"data_started": "2015-05-15T10:34:12Z", "data_ended": "2015-05-15T10:36:12Z"},
        }
    ],
}

# From the job execution details response.
MANIFEST_EXECUTION_DETAILS = {"output_data": [], "version": "1.1", "errors": [], "parse_results": []}

# ---------------------------------------------------------------- error interface

ERROR_MAPPING = {"version": "1.0", "exit_codes": {"1": "unknown"}}

# ---------------------------------------------------------------- job interfaces

MAKE_GEOTIFF_INTERFACE = {
    "version": "1.0",
    "command": "python make_geotiff.py",
    "command_arguments": "${image} ${georeference_data} ${job_output_dir}",
    "input_data": [
        {"name": "image", "type": "file", "media_types": ["image/png"]},
        {"name": "georeference_data", "type": "file", "media_types": ["text/csv"]},
    ],
    "output_data": [{"name": "geo_image", "type": "file", "media_type": "image/tiff"}],
}

DETECT_POINTS_INTERFACE = {
    "version": "1.0",
    "command": "python detect_points.py",
    "command_arguments": "${image} ${job_output_dir}",
    "input_data": [{"name": "image", "type": "file", "media_types": ["image/tiff"]}],
    "output_data": [{"name": "geo_image", "type": "file", "media_type": "application/vnd.geo+json"}],
}

# Job type create / validate / edit requests.
TEST_CMD_INTERFACE = {
    "version": "1.0",
    "command": "test_cmd",
    "command_arguments": "test_arg",
    "input_data": [{"media_types": ["image/png"], "type": "file", "name": "input_file"}],
    "output_data": [],
    "shared_resources": [],
}

# Job details (job_type_rev.interface).
KML_INTERFACE = {
    "input_data": [{"type": "file", "name": "input_file"}],
    "output_data": [{"media_type": "application/vnd.google-earth.kml+xml", "type": "file", "name": "output_file"}],
    "version": "1.0",
    "command": "/usr/local/bin/python2.7 /app/parser/manage.py create_footprint_kml",
    "command_arguments": "${input_file} ${job_output_dir}",
}

# Recipe type details (job_types[].interface).
COMMAND_TO_RUN_INTERFACE = {
    "input_data": [{"media_types": ["image/png"], "type": "file", "name": "input_file"}],
    "version": "1.0",
    "command": "command_to_run.sh",
    "output_data": [{"media_type": "image/png", "type": "file", "name": "my_file_name"}],
    "command_arguments": "${input_file} ${job_output_dir}",
}

# Import/export example (job_types[].interface).
MY_CMD_INTERFACE = {
    "version": "1.0",
    "command": "my-cmd",
    "command_arguments": "${input_file} ${job_output_dir}",
    "input_data": [{"media_types": ["image/png"], "required": True, "type": "file", "name": "input_file"}],
    "output_data": [{"media_type": "image/jpg", "required": True, "type": "file", "name": "my-output-file"}],
    "shared_resources": [],
}

ALL_INTERFACES = [
    MAKE_GEOTIFF_INTERFACE,
    DETECT_POINTS_INTERFACE,
    TEST_CMD_INTERFACE,
    KML_INTERFACE,
    COMMAND_TO_RUN_INTERFACE,
    MY_CMD_INTERFACE,
]

# ---------------------------------------------------------------- job data

JOB_DATA = {
    "version": "1.0",
    "input_data": [{"name": "image", "file_id": 1234}, {"name": "georeference_data", "file_id": 1235}],
    "output_data": [{"name": "geo_image", "workspace_id": 12}],
}

# Job details (data), for the KML interface.
KML_JOB_DATA = {
    "input_data": [{"name": "input_file", "file_id": 8480}],
    "version": "1.0",
    "output_data": [{"name": "output_file", "workspace_id": 2}],
}

# Queue new job request; the interface it needs is not shown, so this one fits it.
NEW_JOB_DATA = {
    "version": "1.0",
    "input_data": [{"name": "Param 1", "value": "HELLO"}, {"name": "Param 2", "file_id": 9876}],
    "output_data": [{"name": "Param 3", "workspace_id": 15}],
}
NEW_JOB_INTERFACE = {
    "command": "run",
    "command_arguments": "${Param 1} ${Param 2} ${job_output_dir}",
    "input_data": [{"name": "Param 1", "type": "property"}, {"name": "Param 2", "type": "file"}],
    "output_data": [{"name": "Param 3", "type": "file"}],
}

# ---------------------------------------------------------------- recipe definitions and data

RECIPE_DEFINITION = {
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
            "dependencies": [{"name": "make_geotiff", "connections": [{"output": "geo_image", "input": "image"}]}],
        },
    ],
}

# Create / validate recipe type requests (no version: the default applies).
MYJOB_RECIPE_DEFINITION = {
    "input_data": [{"media_types": ["text/plain"], "type": "file", "name": "input_file"}],
    "jobs": [
        {
            "recipe_inputs": [{"job_input": "input_file", "recipe_input": "input_file"}],
            "name": "MyJob1",
            "job_type": {"name": "my-job1", "version": "1.2.3"},
        },
        {
            "recipe_inputs": [{"job_input": "input_file", "recipe_input": "input_file"}],
            "name": "MyJob2",
            "job_type": {"name": "my-job2", "version": "4.5.6"},
        },
    ],
}

# Recipe type details response.
MY_JOB_TYPE_RECIPE_DEFINITION = {
    "input_data": [{"media_types": ["image/png"], "type": "file", "name": "input_file"}],
    "version": "1.0",
    "jobs": [
        {
            "recipe_inputs": [{"job_input": "input_file", "recipe_input": "input_file"}],
            "name": "my_job_type",
            "job_type": {"name": "my-job-type", "version": "1.2.3"},
        }
    ],
}

RECIPE_DATA = {
    "version": "1.0",
    "input_data": [{"name": "image", "file_id": 1234}, {"name": "georeference_data", "file_id": 1235}],
    "workspace_id": 12,
}

# ---------------------------------------------------------------- trigger rules

INGEST_TRIGGER = {
    "version": "1.0",
    "condition": {"media_type": "text/plain", "data_types": ["foo", "bar"]},
    "data": {"input_data_name": "my_file", "workspace_name": "my_workspace"},
}
PARSE_TRIGGER = copy.deepcopy(INGEST_TRIGGER)
# Job type / recipe type requests and the import example.
PARSE_TRIGGER_RS = {
    "version": "1.0",
    "condition": {"media_type": "image/png", "data_types": []},
    "data": {"input_data_name": "input_file", "workspace_name": "rs"},
}
PARSE_TRIGGER_PRODUCTS = {
    "version": "1.0",
    "data": {"workspace_name": "products", "input_data_name": "input_file"},
    "condition": {"media_type": "image/png", "data_types": []},
}
PARSE_TRIGGER_TEXT = {
    "version": "1.0",
    "condition": {"media_type": "text/plain", "data_types": []},
    "data": {"input_data_name": "input_file", "workspace_name": "rs"},
}
PARSE_TRIGGER_MY_TYPE = {
    "version": "1.0",
    "data": {"workspace_name": "products", "input_data_name": "input_file"},
    "condition": {"media_type": "image/png", "data_types": ["My-Type"]},
}
CLOCK_TRIGGER = {"version": "1.0", "event_type": "MY_METRICS", "schedule": "PT1H0M0S"}

# ---------------------------------------------------------------- Strike and workspaces

STRIKE_CONFIGURATION = {
    "version": "1.0",
    "mount": "host:/my/path",
    "transfer_suffix": "_tmp",
    "files_to_ingest": [
        {"filename_regex": ".*h5", "data_types": [], "workspace_path": "/wrksp/path", "workspace_name": "rs"}
    ],
}
# Create Strike request.
STRIKE_CREATE_CONFIGURATION = {
    "version": "1.0",
    "mount": "host:/my/path",
    "transfer_suffix": "_tmp",
    "files_to_ingest": [{"filename_regex": ".*txt", "workspace_path": "/my/path", "workspace_name": "rs"}],
}
# Ingest details response: a stored configuration whose filename_regex "*.txt" is a glob, not a
# regular expression (tests/test_specs_strike_config.py shows it is refused for that reason).
STRIKE_INGEST_DETAILS_CONFIGURATION = {
    "transfer_suffix": "_tmp",
    "mount": "host:/transfer",
    "version": "1.0",
    "mount_on": "/mounts/transfer",
    "files_to_ingest": [
        {"workspace_path": "/workspace", "data_types": [], "filename_regex": "*.txt", "workspace_name": "rs"}
    ],
}

WORKSPACE_CONFIGURATION = {"version": "1.0", "broker": {"type": "nfs", "mount": "host:/my/path"}}

# ---------------------------------------------------------------- import / export

IMPORT_CONFIGURATION = {
    "version": "1.0",
    "errors": [{"name": "my-error", "title": "My Error", "description": "My error description.", "category": "DATA"}],
    "job_types": [
        {
            "name": "my-job",
            "version": "1.0.0",
            "title": "My Job",
            "description": "My job description.",
            "category": "example",
            "author_name": None,
            "author_url": None,
            "is_operational": True,
            "icon_code": "f013",
            "docker_privileged": False,
            "docker_image": None,
            "priority": 100,
            "timeout": 1800,
            "max_tries": 3,
            "cpus_required": 1.0,
            "mem_required": 64.0,
            "disk_out_const_required": 64.0,
            "disk_out_mult_required": 0.0,
            "interface": MY_CMD_INTERFACE,
            "error_mapping": {"version": "1.0", "exit_codes": {"1": "my-error"}},
            "trigger_rule": {"type": "PARSE", "name": "my-rule", "configuration": PARSE_TRIGGER_PRODUCTS},
        }
    ],
    "recipe_types": [
        {
            "name": "my-recipe",
            "version": "1.0.0",
            "title": "My Recipe",
            "description": "My recipe description.",
            "definition": {
                "version": "1.0",
                "input_data": [{"media_types": ["image/png"], "required": True, "type": "file", "name": "input_file"}],
                "jobs": [],
            },
            "trigger_rule": {"type": "PARSE", "name": "my-rule", "configuration": PARSE_TRIGGER_PRODUCTS},
        }
    ],
}

# ---------------------------------------------------------------- fake database lookups

WORKSPACES_BY_NAME = {
    "rs": {"id": 1, "is_active": True},
    "products": {"id": 2, "is_active": True},
    "my_workspace": {"id": 3, "is_active": True},
    "old": {"id": 4, "is_active": False},
}
WORKSPACES_BY_ID = {info["id"]: {"is_active": info["is_active"]} for info in WORKSPACES_BY_NAME.values()}
WORKSPACES_BY_ID.update({12: {"is_active": True}, 15: {"is_active": True}})

FILES = {
    1234: {"media_type": "image/png", "file_size": 100, "workspace_id": 1},
    1235: {"media_type": "text/csv", "file_size": 10, "workspace_id": 1},
    8480: {"media_type": "application/octet-stream", "file_size": 5, "workspace_id": 1},
    9876: {"media_type": "text/plain", "file_size": 7, "workspace_id": 1},
}

JOB_TYPES = {
    ("geotiff-maker", "1.2.3"): MAKE_GEOTIFF_INTERFACE,
    ("point-detector", "4.5.6"): DETECT_POINTS_INTERFACE,
    ("my-job1", "1.2.3"): {
        **TEST_CMD_INTERFACE,
        "input_data": [{"type": "file", "name": "input_file", "media_types": ["text/plain"]}],
    },
    ("my-job2", "4.5.6"): {**TEST_CMD_INTERFACE, "input_data": [{"type": "file", "name": "input_file"}]},
    ("my-job-type", "1.2.3"): COMMAND_TO_RUN_INTERFACE,
}


class Recorder:
    """A lookup double that answers from a dict and remembers every call, so tests can check batching."""

    def __init__(self, table: dict) -> None:
        self.table = table
        self.calls: list[list] = []

    def __call__(self, keys):
        self.calls.append(list(keys))
        return {k: self.table[k] for k in keys if k in self.table}


def lookup_files(ids):
    return {i: FILES[i] for i in ids if i in FILES}


def lookup_workspaces(ids):
    return {i: WORKSPACES_BY_ID[i] for i in ids if i in WORKSPACES_BY_ID}


def lookup_workspaces_by_name(names):
    return {n: WORKSPACES_BY_NAME[n] for n in names if n in WORKSPACES_BY_NAME}


def lookup_job_types(keys):
    return {k: JOB_TYPES[k] for k in keys if k in JOB_TYPES}


# ---------------------------------------------------------------- the examples validate


@pytest.mark.parametrize("doc", [MANIFEST_ONE_OUTPUT, MANIFEST_PARSED_INPUT, MANIFEST_EXECUTION_DETAILS])
def test_results_manifest_examples(doc):
    manifest = parse_results_manifest(copy.deepcopy(doc))
    assert manifest["version"] == "1.1"


def test_results_manifest_example_content():
    manifest = parse_results_manifest(MANIFEST_ONE_OUTPUT)
    assert manifest["output_data"] == [{"name": "output_file", "file": {"path": "/tmp/job_exe_231/outputs/output.csv"}}]
    parsed = parse_results_manifest(MANIFEST_PARSED_INPUT)["parse_results"][0]
    assert parsed["data_types"] == ["H5", "VEG"]
    assert parsed["geo_metadata"]["data_ended"] == "2015-05-15T10:36:12Z"


def test_error_interface_example():
    assert validate_error_mapping(ERROR_MAPPING) == ERROR_MAPPING


@pytest.mark.parametrize("doc", ALL_INTERFACES + [NEW_JOB_INTERFACE])
def test_job_interface_examples(doc):
    original = copy.deepcopy(doc)
    interface = validate_job_interface(doc)
    assert interface["version"] == "1.0"
    assert doc == original, "validation must not change the caller's document"


def test_job_data_examples():
    data, warnings = validate_job_data(
        JOB_DATA,
        validate_job_interface(MAKE_GEOTIFF_INTERFACE),
        lookup_files=lookup_files,
        lookup_workspaces=lookup_workspaces,
    )
    assert data == JOB_DATA and warnings == []
    data, warnings = validate_job_data(
        KML_JOB_DATA,
        validate_job_interface(KML_INTERFACE),
        lookup_files=lookup_files,
        lookup_workspaces=lookup_workspaces,
    )
    assert data["input_data"] == [{"name": "input_file", "file_id": 8480}] and warnings == []
    data, warnings = validate_job_data(
        NEW_JOB_DATA,
        validate_job_interface(NEW_JOB_INTERFACE),
        lookup_files=lookup_files,
        lookup_workspaces=lookup_workspaces,
    )
    assert data["input_data"][0] == {"name": "Param 1", "value": "HELLO"} and warnings == []


@pytest.mark.parametrize(
    "doc",
    [
        RECIPE_DEFINITION,
        MYJOB_RECIPE_DEFINITION,
        MY_JOB_TYPE_RECIPE_DEFINITION,
        IMPORT_CONFIGURATION["recipe_types"][0]["definition"],
    ],
)
def test_recipe_definition_examples(doc):
    definition, warnings = validate_recipe_definition(copy.deepcopy(doc), lookup_job_types=lookup_job_types)
    assert definition["version"] == "1.0"
    assert warnings == []


def test_recipe_definition_example_order():
    definition, _ = validate_recipe_definition(RECIPE_DEFINITION, lookup_job_types=lookup_job_types)
    assert topological_order(definition) == ["make_geotiff", "detect_points"]


def test_recipe_data_example():
    definition, _ = validate_recipe_definition(RECIPE_DEFINITION, lookup_job_types=lookup_job_types)
    interfaces = {
        "make_geotiff": validate_job_interface(MAKE_GEOTIFF_INTERFACE),
        "detect_points": validate_job_interface(DETECT_POINTS_INTERFACE),
    }
    data, warnings = validate_recipe_data(
        RECIPE_DATA,
        definition,
        job_interfaces=interfaces,
        lookup_files=lookup_files,
        lookup_workspaces=lookup_workspaces,
    )
    assert data == RECIPE_DATA and warnings == []


@pytest.mark.parametrize(
    "doc", [INGEST_TRIGGER, PARSE_TRIGGER_RS, PARSE_TRIGGER_PRODUCTS, PARSE_TRIGGER_TEXT, PARSE_TRIGGER_MY_TYPE]
)
def test_ingest_trigger_examples(doc):
    config = validate_ingest_trigger(doc, lookup_workspaces_by_name=lookup_workspaces_by_name)
    assert config["data"] == doc["data"]


@pytest.mark.parametrize("doc", [PARSE_TRIGGER, PARSE_TRIGGER_RS, PARSE_TRIGGER_PRODUCTS, PARSE_TRIGGER_MY_TYPE])
def test_parse_trigger_examples(doc):
    config = validate_parse_trigger(doc, lookup_workspaces_by_name=lookup_workspaces_by_name)
    assert config["condition"] == doc["condition"]


def test_clock_trigger_example():
    config = validate_clock_trigger(CLOCK_TRIGGER)
    assert config == {**CLOCK_TRIGGER, "schedule_seconds": 3600}


@pytest.mark.parametrize("doc", [STRIKE_CONFIGURATION, STRIKE_CREATE_CONFIGURATION])
def test_strike_examples(doc):
    config = validate_strike_configuration(doc, lookup_workspaces_by_name=lookup_workspaces_by_name)
    assert config["mount"] == "host:/my/path"
    assert not config["files_to_ingest"][0]["workspace_path"].startswith("/")


def test_workspace_example():
    assert validate_workspace_configuration(WORKSPACE_CONFIGURATION) == WORKSPACE_CONFIGURATION


def test_import_configuration_example():
    assert (
        validate_import_configuration(
            IMPORT_CONFIGURATION, lookup_job_types=lookup_job_types, lookup_workspaces_by_name=lookup_workspaces_by_name
        )
        == []
    )
    normalized, _ = normalize_import_configuration(IMPORT_CONFIGURATION)
    assert normalized["job_types"][0]["interface"]["input_data"][0]["name"] == "input_file"
