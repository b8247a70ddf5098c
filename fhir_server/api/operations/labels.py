"""``GET /Patient/{id}/$labels``: a printable PDF label or cover sheet for the patient and a
record category (``category``; optional ``document`` id; ``kind=label|cover``; ``copies``)."""

from __future__ import annotations

from typing import Annotated, Literal

import orjson
from fastapi import APIRouter, Query
from starlette.requests import Request
from starlette.responses import Response

from fhir_server.api.context import FHIR_PATH, services
from fhir_server.api.rest import ResourceId
from fhir_server.errors import Unprocessable
from fhir_server.model.ids import check_id
from ingestion.labels import (
    LabelError,
    category_styles,
    cover_sheet_pdf,
    label_pdf,
    patient_from_resource,
)

router = APIRouter(prefix=FHIR_PATH, tags=["FHIR operations"])
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
    styles = category_styles(getattr(request.app.state, "terminology", None))
    try:
        patient = patient_from_resource(orjson.loads(version.body))
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
