"""The documentation names every setting the code reads."""

from __future__ import annotations

from pathlib import Path

import pytest

from fhir_server.config import Settings

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.parametrize("document", ["README.md", "docs/deployment.md"])
def test_every_setting_is_documented(document: str) -> None:
    text = (ROOT / document).read_text()
    missing = [
        f"MEDREC_{name.upper()}"
        for name in Settings.model_fields
        if f"MEDREC_{name.upper()}" not in text
    ]
    assert not missing, f"{document} does not document {missing}"
