"""Regenerate fhir_server/search/definitions/search_parameters.json from the official R4 package.

Source: ``package/Bundle-searchParams.json`` of the npm package ``hl7.fhir.r4.examples@4.0.1``
(HL7 FHIR R4 4.0.1, CC0). Usage::

    uv run python scripts/generate_search_definitions.py             # fetches the package with npm
    uv run python scripts/generate_search_definitions.py DIR/package  # an already unpacked package

Every SearchParameter of the bundle is kept, reduced to the fields search needs. A few published
definitions are wrong; CORRECTIONS fixes them, each with its reason (also listed in the README).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from fhir_server.model.r4_package import r4_package_dir

TARGET = (
    Path(__file__).resolve().parents[1]
    / "fhir_server"
    / "search"
    / "definitions"
    / "search_parameters.json"
)
SP = "http://hl7.org/fhir/SearchParameter/"

# url -> (what is wrong, the corrected fields). Applied after reduction; each must still match
# the published text, so a new package version cannot be silently "corrected".
CORRECTIONS: dict[str, tuple[str, dict[str, Any], dict[str, Any]]] = {
    SP + "InsurancePlan-name": (
        "the expression is relative ('name | alias'), unlike every other definition",
        {"expression": "name | alias"},
        {"expression": "InsurancePlan.name | InsurancePlan.alias"},
    ),
    SP + "Observation-code-value-date": (
        "'DateTime' names System.DateTime, which no FHIR element is; FHIR's type is 'dateTime'",
        {"component.1.expression": "value.as(DateTime) | value.as(Period)"},
        {"component.1.expression": "value.as(dateTime) | value.as(Period)"},
    ),
    SP + "DocumentReference-relationship": (
        "the component expressions are swapped: relatesto (a reference) is 'target' and "
        "relation (a token) is 'code'",
        {"component.0.expression": "code", "component.1.expression": "target"},
        {"component.0.expression": "target", "component.1.expression": "code"},
    ),
}


def reduce(sp: dict[str, Any]) -> dict[str, Any]:
    return {
        "url": sp["url"],
        "code": sp["code"],
        "base": list(sp["base"]),
        "type": sp["type"],
        "expression": sp.get("expression"),
        "target": list(sp.get("target", [])),
        "modifier": list(sp.get("modifier", [])),
        "comparator": list(sp.get("comparator", [])),
        "component": [
            {"definition": c["definition"], "expression": c["expression"]}
            for c in sp.get("component", [])
        ],
        "multipleOr": sp.get("multipleOr"),
        "multipleAnd": sp.get("multipleAnd"),
    }


def _field(definition: dict[str, Any], dotted: str) -> tuple[Any, str]:
    """The container and key of a dotted field such as ``component.1.expression``."""
    *path, last = dotted.split(".")
    node: Any = definition
    for part in path:
        node = node[int(part)] if isinstance(node, list) else node[part]
    return node, last


def correct(definition: dict[str, Any]) -> dict[str, Any]:
    correction = CORRECTIONS.get(definition["url"])
    if correction is None:
        return definition
    _, published, fixed = correction
    for dotted, text in published.items():
        node, key = _field(definition, dotted)
        if node[key] != text:
            raise SystemExit(f"{definition['url']}: {dotted} is {node[key]!r}, not {text!r}")
        node[key] = fixed[dotted]
    return definition


def generate(package: Path) -> list[dict[str, Any]]:
    bundle = json.loads((package / "Bundle-searchParams.json").read_bytes())
    definitions = [correct(reduce(entry["resource"])) for entry in bundle["entry"]]
    applied = {d["url"] for d in definitions} & set(CORRECTIONS)
    if applied != set(CORRECTIONS):
        raise SystemExit(f"corrections for unknown parameters: {set(CORRECTIONS) - applied}")
    return sorted(definitions, key=lambda d: d["url"])


def write(definitions: list[dict[str, Any]], target: Path) -> None:
    # One definition per line: small, and a regeneration diffs readably.
    lines = [json.dumps(d, separators=(",", ":"), ensure_ascii=False) for d in definitions]
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text("[\n" + ",\n".join(lines) + "\n]\n", encoding="utf-8")


def main() -> None:
    package = Path(sys.argv[1]) if len(sys.argv) > 1 else r4_package_dir()
    definitions = generate(package)
    write(definitions, TARGET)
    print(f"wrote {len(definitions)} search parameters to {TARGET}")
    for url, (reason, _, _) in CORRECTIONS.items():
        print(f"corrected {url}: {reason}")


if __name__ == "__main__":
    main()
