"""When MongoDB cannot be reached, requests get a 503 OperationOutcome, not a hang or a 500."""

from __future__ import annotations

from pathlib import Path

import httpx

from fhir_server.app import create_app
from fhir_server.config import Settings
from fhir_server.storage.embedded import free_port


async def test_unreachable_database_is_503(tmp_path: Path) -> None:
    settings = Settings(
        mongodb_uri=f"mongodb://127.0.0.1:{free_port()}/?directConnection=true",
        mongodb_timeout_ms=300,
        data_dir=tmp_path,  # where the unstored AuditEvents are journaled
    )
    app = create_app(settings, create_indexes=False)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://t/fhir/") as client:
            response = await client.get("Patient/abc")
            assert response.status_code == 503
            assert response.headers["retry-after"] == "5"
            assert response.json()["issue"][0]["code"] == "transient"
            metadata = await client.get("metadata")  # needs no database
            assert metadata.status_code == 200
