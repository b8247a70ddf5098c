"""POST /hl7v2: the message as the body, the ACK as the answer."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest
from fastapi import FastAPI

from ingestion.hl7v2.ack import ack_code
from smart_auth.tokens import Grant
from tests.conftest import bearer
from tests.ingestion.hl7v2 import corpus

URL = "http://testserver/hl7v2"  # outside the FHIR base
ER7 = {"Content-Type": "x-application/hl7-v2+er7"}


LAB_SYSTEM = Grant("lab-feed", "lab-feed", "system/*.cu")


@pytest.fixture
async def client(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    """A lab system's backend-services token (system/ scopes to create and update)."""
    transport = httpx.ASGITransport(app=app)
    headers = {**ER7, **bearer(app, LAB_SYSTEM)}
    async with httpx.AsyncClient(transport=transport, timeout=60, headers=headers) as http:
        yield http


async def test_only_feed_senders_may_post(app: FastAPI) -> None:
    body = corpus.oru("HTTP0").encode()
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, timeout=60) as http:
        assert (await http.post(URL, content=body)).status_code == 401
        reader = Grant("reader", "reader", "system/*.rs")
        headers = {**ER7, **bearer(app, reader)}
        assert (await http.post(URL, content=body, headers=headers)).status_code == 403
        doctor = Grant("u", "app", "user/*.*", role="practitioner", fhir_user="Practitioner/p")
        headers = {**ER7, **bearer(app, doctor)}
        assert (await http.post(URL, content=body, headers=headers)).status_code == 403


async def test_post_answers_the_ack(client: httpx.AsyncClient) -> None:
    sent = await client.post(URL, content=corpus.oru("HTTP1").encode())
    assert sent.status_code == 200
    assert sent.headers["content-type"].startswith("x-application/hl7-v2+er7")
    assert ack_code(sent.content) == ("AA", "HTTP1")
    again = await client.post(URL, content=corpus.oru("HTTP1").encode())
    assert ack_code(again.content) == ("AA", "HTTP1")


async def test_post_of_a_bad_message_answers_ae(client: httpx.AsyncClient) -> None:
    text = corpus.oru("HTTP2").replace("|19800215|", "|1980021|")
    sent = await client.post(URL, content=text.encode())
    assert sent.status_code == 200 and ack_code(sent.content) == ("AE", "HTTP2")


async def test_post_of_garbage_answers_ar(client: httpx.AsyncClient) -> None:
    sent = await client.post(URL, content=b"hello")
    assert sent.status_code == 200 and ack_code(sent.content) == ("AR", "")
