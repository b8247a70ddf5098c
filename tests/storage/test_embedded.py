"""The embedded database process and start-up index creation."""

from __future__ import annotations

import os
import signal
from pathlib import Path

import pytest
from pymongo import MongoClient

from fhir_server.app import create_app
from fhir_server.config import Settings
from fhir_server.storage.embedded import EmbeddedDatabase, EmbeddedDatabaseError


def test_embedded_database_starts_persists_and_stops(tmp_path: Path) -> None:
    with EmbeddedDatabase(tmp_path) as database:
        pid = database.pid
        assert pid is not None
        with MongoClient(database.uri) as client:
            client.medrec.things.insert_one({"_id": "kept"})
    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)  # stopped on exit
    with EmbeddedDatabase(tmp_path) as database, MongoClient(database.uri) as client:
        assert client.medrec.things.find_one({"_id": "kept"}) == {"_id": "kept"}


def test_embedded_database_failure_is_reported(tmp_path: Path) -> None:
    blocker = tmp_path / "db"
    blocker.write_text("a file where the storage directory should be")
    with pytest.raises((EmbeddedDatabaseError, OSError)):
        EmbeddedDatabase(tmp_path, startup_timeout=15).start()


async def test_indexes_created_idempotently_at_startup(settings: Settings) -> None:
    for _ in range(2):
        app = create_app(settings, create_indexes=True)
        async with app.router.lifespan_context(app):
            pass
    with MongoClient(settings.mongodb_uri) as client:
        db = client[settings.database]
        assert "lastUpdated" in db["Patient"].index_information()
        history = db["Observation_history"].index_information()
        assert history["idVersion"]["unique"] is True


def test_sigterm_stops_cleanly(tmp_path: Path) -> None:
    database = EmbeddedDatabase(tmp_path)
    database.start()
    assert database.pid is not None
    os.kill(database.pid, signal.SIGTERM)
    database.stop()  # already exiting: stop must not raise
