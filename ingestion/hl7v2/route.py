"""``POST /hl7v2``: one ER7 message as the body, its ACK as the answer (for senders that speak
HTTP rather than MLLP). 200 with the ACK whatever its code (AA, AE, AR: the ACK says; in
enhanced mode the application acknowledgement when one is wanted, else the accept one); 503
when the database is unreachable or the message kept conflicting with other writes
(nothing committed: send it again)."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Request
from pymongo.errors import PyMongoError
from starlette.responses import Response

from ingestion.hl7v2.provenance import MEDIA_TYPE
from ingestion.hl7v2.receive import Busy, Receiver
from ingestion.hl7v2.service import open_receiver
from smart_auth.enforce import require_system_writer

# What a message can write: the sender's token must allow creating and updating all of them.
FEED_TYPES = frozenset(
    {
        "Patient",
        "Encounter",
        "ServiceRequest",
        "DiagnosticReport",
        "Observation",
        "Specimen",
        "DocumentReference",
        "Binary",
        "Provenance",
    }
)


async def authorized(request: Request) -> None:
    """A sender over HTTP: an administrator or a backend-services client with system/ scopes
    for everything a message can write (``system/*.cu``, say)."""
    await require_system_writer(request, FEED_TYPES)


router = APIRouter(tags=["hl7v2"], dependencies=[Depends(authorized)])


async def _receiver(request: Request) -> Receiver:
    state = request.app.state
    found: Receiver | None = getattr(state, "hl7_receiver", None)
    if found is None:
        services = state.services
        codes = getattr(state, "terminology", None)
        found = await open_receiver(services.settings, services.repository, codes)
        state.hl7_receiver = found
    return found


@router.post(
    "/hl7v2",
    summary="Receive one HL7 v2 message (ER7) and answer its ACK",
    response_class=Response,
    responses={200: {"content": {MEDIA_TYPE: {}}}, 503: {"description": "Database unreachable"}},
)
async def receive(request: Request) -> Response:
    body = await request.body()
    try:
        received = await (await _receiver(request)).receive(body)
    except (PyMongoError, Busy):
        return Response("database unavailable; nothing was applied", 503, media_type="text/plain")
    return Response(received.ack or b"", 200, media_type=MEDIA_TYPE)
