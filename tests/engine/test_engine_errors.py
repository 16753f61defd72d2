"""The two named families of engine errors (runner/engine/engines.py)."""

from __future__ import annotations

import docker
import docker.errors
import pytest

from runner.engine.engines import ENGINE_CALL_ERRORS, ENGINE_ERRORS


def test_a_call_error_is_an_engine_error() -> None:
    for kind in ENGINE_CALL_ERRORS:
        assert issubclass(kind, ENGINE_ERRORS)


def test_an_engine_that_does_not_answer_is_a_call_error() -> None:
    client = docker.DockerClient(base_url="tcp://127.0.0.1:9", version="1.43", timeout=2)
    with pytest.raises(ENGINE_CALL_ERRORS):
        client.containers.list()


def test_a_request_the_sdk_refuses_is_not_a_call_error() -> None:
    # radiops calling the SDK wrongly is a bug to show, not an engine to report as away
    error = docker.errors.InvalidArgument("bad argument")
    assert isinstance(error, ENGINE_ERRORS)
    assert not isinstance(error, ENGINE_CALL_ERRORS)
