"""Fixtures of the terminology tests: the service over the bundled content, and the operations'
router in a small app over HTTP."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest

from terminology.service import TerminologyService, default_service
from tests.terminology.support import terminology_app


@pytest.fixture(scope="session")
def service() -> TerminologyService:
    return default_service()


@pytest.fixture
async def tx() -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=terminology_app())
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver/fhir/") as http:
        yield http
