"""The repository as every way in uses it (the app, `medrec load`, `medrec demo`): the model's
validation plus required bindings against the bundled and the site's stored terminology,
which a change listener keeps current."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from pymongo.asynchronous.database import AsyncDatabase

from fhir_server.model.validation import ModelValidator
from fhir_server.storage.collections import Collections
from fhir_server.storage.repository import Repository
from terminology.bindings import BindingValidator
from terminology.service import TerminologyService
from terminology.stored import StoredContent, load_stored_content, site_service


@dataclass(frozen=True)
class Wired:
    repository: Repository
    terminology: TerminologyService
    stored: StoredContent  # the site's own terminology resources

    async def load_site_terminology(self) -> None:
        await load_stored_content(self.repository, self.stored)


def wire(db: AsyncDatabase[Any], max_depth: int) -> Wired:
    stored = StoredContent()
    terminology = site_service(stored)
    validator = BindingValidator(ModelValidator(), terminology)
    repository = Repository(Collections(db), validator, max_depth, listeners=[stored.on_change])
    return Wired(repository, terminology, stored)
