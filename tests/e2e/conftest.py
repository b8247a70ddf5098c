"""Fixtures for the end-to-end tests: the real `medrec serve`, over real HTTP."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.e2e.server import RunningServer, start_server, stop_server


@pytest.fixture(scope="module")
def medrec_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    server = start_server(tmp_path_factory.mktemp("medrec-serve"))
    try:
        yield server
    finally:
        code = stop_server(server)
        assert code == 0, f"medrec serve exited with {code} after SIGTERM\n{server.output()}"


@pytest.fixture
def fhir_base(medrec_server: RunningServer) -> str:
    return medrec_server.fhir_base


@pytest.fixture
def authorization(medrec_server: RunningServer) -> str:
    """An administrator's bearer token, as fhirpy's ``authorization`` argument takes it."""
    return medrec_server.admin_headers()["Authorization"]
