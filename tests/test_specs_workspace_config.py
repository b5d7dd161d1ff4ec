"""Workspace configuration 1.0 (nfs and host brokers)."""

from __future__ import annotations

import pytest

from app.specs.base import SpecError
from app.specs.workspace_config import validate_workspace_configuration


def ids_of(doc) -> list[str]:
    with pytest.raises(SpecError) as info:
        validate_workspace_configuration(doc)
    return info.value.ids


def test_defaults_and_host_broker():
    assert validate_workspace_configuration({"broker": {"type": "host", "host_path": "/data/rs"}}) == {
        "version": "1.0",
        "broker": {"type": "host", "host_path": "/data/rs"},
    }


def test_version():
    assert ids_of({"version": "2.0", "broker": {"type": "nfs", "mount": "h:/p"}}) == ["UNSUPPORTED_VERSION"]


def test_broker_required():
    assert ids_of({"version": "1.0"}) == ["MISSING_FIELD"]
    assert ids_of({"broker": "nfs"}) == ["INVALID_TYPE"]
    assert ids_of({"broker": {}}) == ["MISSING_FIELD"]
    assert ids_of(None) == ["INVALID_DOCUMENT"]


def test_unknown_broker_type():
    assert ids_of({"broker": {"type": "ftp"}}) == ["UNKNOWN_BROKER_TYPE"]


def test_nfs_mount():
    assert ids_of({"broker": {"type": "nfs"}}) == ["MISSING_FIELD"]
    assert ids_of({"broker": {"type": "nfs", "mount": "/no/host"}}) == ["INVALID_MOUNT"]
    assert ids_of({"broker": {"type": "nfs", "mount": "host:/p", "host_path": "/x"}}) == ["UNKNOWN_FIELD"]


def test_host_path():
    assert ids_of({"broker": {"type": "host"}}) == ["MISSING_FIELD"]
    assert ids_of({"broker": {"type": "host", "host_path": "relative/dir"}}) == ["INVALID_PATH"]
    assert ids_of({"broker": {"type": "host", "host_path": "/x", "mount": "h:/p"}}) == ["UNKNOWN_FIELD"]
