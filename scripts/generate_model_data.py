"""Regenerate fhir_server/model/data/*.json from the official FHIR R4 (4.0.1) package.

Source: npm package ``hl7.fhir.r4.examples@4.0.1`` (CC0). Usage::

    uv run python scripts/generate_model_data.py            # fetches the package with npm
    uv run python scripts/generate_model_data.py DIR/package  # an already unpacked package
"""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from fhir_server.model.r4_package import r4_package_dir

DATA = Path(__file__).resolve().parents[1] / "fhir_server" / "model" / "data"
SIMPLE_PATH = re.compile(r"^[A-Za-z]+(\.[A-Za-z]+)+$")


def resource_types(pkg: Path) -> list[str]:
    names = []
    for f in pkg.glob("StructureDefinition-*.json"):
        sd = json.loads(f.read_bytes())
        if (
            sd.get("kind") == "resource"
            and sd.get("derivation") == "specialization"
            and not sd.get("abstract")
        ):
            names.append(sd["type"])
    return sorted(names)


def compartment_paths(pkg: Path) -> dict[str, list[str]]:
    """Resource type -> dotted element paths whose references put it in a Patient compartment."""
    bundle = json.loads((pkg / "Bundle-searchParams.json").read_bytes())
    expressions: dict[tuple[str, str], str] = {}
    for entry in bundle["entry"]:
        sp = entry["resource"]
        for base in sp.get("base", []):
            expressions[(base, sp["code"])] = sp.get("expression") or ""
    definition = json.loads((pkg / "CompartmentDefinition-patient.json").read_bytes())
    out: dict[str, list[str]] = {}
    for res in definition["resource"]:
        rtype = res["code"]
        paths: set[str] = set()
        for param in res.get("param", []):
            if param == "{def}":
                continue
            for part in expressions.get((rtype, param), "").split("|"):
                part = part.strip().replace(".where(resolve() is Patient)", "")
                part = re.sub(r"^\((.*) as Reference\)$", r"\1", part)
                if not part.startswith(rtype + "."):
                    continue
                if not SIMPLE_PATH.match(part):
                    raise SystemExit(
                        f"unhandled compartment expression for {rtype}.{param}: {part}"
                    )
                paths.add(part[len(rtype) + 1 :])
        if paths:
            out[rtype] = sorted(paths)
    return out


def summary_elements(pkg: Path, types: list[str]) -> dict[str, dict[str, list[str]]]:
    """Resource type -> its top-level elements marked isSummary ("summary") and those
    required (min >= 1, "mandatory"), a choice element as its name without "[x]"."""
    out: dict[str, dict[str, list[str]]] = {}
    for rtype in types:
        sd = json.loads((pkg / f"StructureDefinition-{rtype}.json").read_bytes())
        summary: list[str] = []
        mandatory: list[str] = []
        for element in sd["snapshot"]["element"]:
            path = element["path"]
            if path.count(".") != 1:
                continue
            name = path.split(".", 1)[1].removesuffix("[x]")
            if element.get("isSummary"):
                summary.append(name)
            if element.get("min", 0) >= 1:
                mandatory.append(name)
        out[rtype] = {"summary": summary, "mandatory": mandatory}
    return out


def main() -> None:
    pkg = Path(sys.argv[1]) if len(sys.argv) > 1 else r4_package_dir()
    DATA.mkdir(parents=True, exist_ok=True)
    (DATA / "r4_resource_types.json").write_text(json.dumps(resource_types(pkg), indent=1) + "\n")
    (DATA / "patient_compartment.json").write_text(
        json.dumps(compartment_paths(pkg), indent=1, sort_keys=True) + "\n"
    )
    (DATA / "summary_elements.json").write_text(
        json.dumps(summary_elements(pkg, resource_types(pkg)), indent=1, sort_keys=True) + "\n"
    )
    print(f"wrote {DATA}/r4_resource_types.json, patient_compartment.json, summary_elements.json")


if __name__ == "__main__":
    main()
