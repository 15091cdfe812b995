"""Schemathesis against the OpenAPI description: generated requests to a real server (its own, fresh root).

Every answer must match the description (status codes, JSON schemas, content types), no
request may cause a server error, and requests the description allows must be accepted,
except where the description cannot say which values exist (a ``cursor`` is opaque, a
``journal`` must be one the server serves): those may be refused with 400.
"""

from __future__ import annotations

import json
from importlib import resources
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings

from tests.server.conftest import add_runs, record
from tests.server.test_server import MAIN, Server, write_config

pytestmark = [pytest.mark.server, pytest.mark.kernel]


def test_generated_requests_get_the_answers_the_description_promises(tmp_path: Path) -> None:
    # Imported here, not at collection: schemathesis is only for this test, and the rest of the suite runs without it.
    import schemathesis
    from schemathesis.checks import positive_data_acceptance

    spec = json.loads(resources.files("nbdurable.server").joinpath("openapi.json").read_text())
    root = tmp_path / "root"
    root.mkdir()
    add_runs(root / MAIN, record("seed", status="completed"), record("waiting", status="waiting"))
    server = Server(root, write_config(tmp_path / "config", {}), tmp_path / "server.log")
    try:
        server.wait_ready()
        schema = schemathesis.openapi.from_dict(spec).exclude(path="/nbdurable/api/feed")  # endless: test_server
        headers = {"Authorization": f"token {server.token}"}
        operations = [result.ok() for result in schema.get_all_operations()]  # type: ignore[union-attr]
        assert len(operations) == 8

        for operation in operations:

            @given(case=operation.as_strategy())
            @settings(max_examples=40, deadline=None, suppress_health_check=list(HealthCheck), database=None)
            def call(case: Any) -> None:
                opaque = {"cursor", "journal"} & set(case.query or {})
                excluded = [positive_data_acceptance] if opaque else None
                case.call_and_validate(base_url=server.url, headers=headers, excluded_checks=excluded)

            call()
        assert server.process.poll() is None
    finally:
        server.stop()
