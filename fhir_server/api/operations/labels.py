"""``GET /Patient/{id}/$labels``: a printable PDF label or cover sheet for the patient and a
record category (``category``; optional ``document`` id; ``kind=label|cover``; ``copies``)."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any, Literal

import orjson
from fastapi import APIRouter, Query
from starlette.requests import Request
from starlette.responses import Response

from fhir_server.api.context import FHIR_PATH, services
from fhir_server.api.rest import ResourceId
from fhir_server.errors import Unprocessable
from fhir_server.model.ids import check_id
from ingestion.labels import LabelError, LabelPatient, category_styles, cover_sheet_pdf, label_pdf

router = APIRouter(prefix=FHIR_PATH, tags=["FHIR operations"])
MRN_TYPE = ("http://terminology.hl7.org/CodeSystem/v2-0203", "MR")
MAX_COPIES = 100


@router.get(
    "/Patient/{rid:segment}/$labels",
    summary="labels: a PDF label or cover sheet",
    response_class=Response,
    responses={200: {"content": {"application/pdf": {}}}},
)
async def labels(
    request: Request,
    rid: ResourceId,
    category: Annotated[str, Query(max_length=64)],
    document: Annotated[str | None, Query(max_length=64)] = None,
    kind: Literal["label", "cover"] = "label",
    copies: Annotated[int, Query(ge=1, le=MAX_COPIES)] = 1,
) -> Response:
    version = await services(request).repository.read("Patient", check_id(rid))
    assert version.body is not None
    patient = _label_patient(orjson.loads(version.body))
    styles = category_styles(getattr(request.app.state, "terminology", None))
    try:
        if kind == "cover":
            pdf = cover_sheet_pdf(patient, category, styles=styles)
        else:
            pdf = label_pdf(patient, category, document, styles=styles, copies=copies)
    except LabelError as error:
        raise Unprocessable(str(error)) from None
    return Response(
        pdf,
        media_type="application/pdf",
        headers={"Content-Disposition": f'inline; filename="{kind}-{category}.pdf"'},
    )


def _label_patient(resource: dict[str, Any]) -> LabelPatient:
    mrn = next((i.get("value") for i in resource.get("identifier", []) if _is_mrn(i)), None)
    if not isinstance(mrn, str) or not mrn:
        raise Unprocessable("The Patient has no medical record number (identifier of type MR)")
    born = resource.get("birthDate")
    try:
        birth_date = dt.date.fromisoformat(born) if isinstance(born, str) else None
    except ValueError:
        birth_date = None
    if birth_date is None:
        raise Unprocessable("The Patient has no full birthDate to print on a label")
    return LabelPatient(mrn, _printed_name(resource.get("name", [])), birth_date)


def _is_mrn(identifier: Any) -> bool:
    if not isinstance(identifier, dict):
        return False
    codings = (identifier.get("type") or {}).get("coding", [])
    return any(
        isinstance(c, dict) and (c.get("system"), c.get("code")) == MRN_TYPE for c in codings
    )


def _printed_name(names: list[Any]) -> str:
    """ "Family, Given Given" from the official name (else the first)."""
    usable = [n for n in names if isinstance(n, dict)]
    name = next((n for n in usable if n.get("use") == "official"), usable[0] if usable else {})
    family = str(name.get("family", ""))
    given = " ".join(str(g) for g in name.get("given", []))
    return ", ".join(part for part in (family, given) if part) or str(name.get("text", ""))
