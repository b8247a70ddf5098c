"""The MLLP listener on a real socket: framing, timeouts, size limit, TLS."""

from __future__ import annotations

import asyncio
import contextlib
import datetime
import ssl
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import pytest

from ingestion.hl7v2.ack import ack_code
from ingestion.hl7v2.mllp import END, START, Limits, Listener, Sender, frame
from ingestion.hl7v2.receive import Receiver
from tests.ingestion.hl7v2 import corpus
from tests.ingestion.hl7v2.support import counts

DEFAULT_LIMITS = Limits()
Listen = Callable[..., Awaitable[Listener]]


@pytest.fixture
async def listen(receiver: Receiver) -> AsyncIterator[Listen]:
    started: list[Listener] = []

    async def start(limits: Limits = DEFAULT_LIMITS, tls: ssl.SSLContext | None = None) -> Listener:
        async def handle(raw: bytes) -> tuple[bytes, ...]:
            return (await receiver.receive(raw)).acks

        listener = Listener(handle, limits, "127.0.0.1", 0, tls)
        await listener.start()
        started.append(listener)
        return listener

    yield start
    for listener in started:
        await listener.close()


async def test_messages_on_one_connection_are_each_acknowledged(
    receiver: Receiver, listen: Listen
) -> None:
    listener = await listen()
    sender = await Sender.connect("127.0.0.1", listener.port)
    try:
        for n in range(3):
            ack = await sender.send(corpus.oru(f"MLLP{n}", order=f"O{n}").encode())
            assert ack_code(ack) == ("AA", f"MLLP{n}")
        # a repeat over the wire
        assert ack_code(await sender.send(corpus.oru("MLLP0", order="O0").encode())) == (
            "AA",
            "MLLP0",
        )
    finally:
        await sender.close()
    assert (await counts(receiver, "DiagnosticReport"))["DiagnosticReport"] == 3


async def test_a_frame_missing_its_end_does_not_swallow_the_next(
    receiver: Receiver, listen: Listen
) -> None:
    listener = await listen(Limits(read_timeout_s=5))
    reader, writer = await asyncio.open_connection("127.0.0.1", listener.port)
    broken = START + corpus.oru("LOST1").encode()[:200]  # no end marker
    writer.write(broken + b"\r\n" + frame(corpus.oru("NEXT1").encode()))
    await writer.drain()
    ack = await asyncio.wait_for(reader.readuntil(END), 30)
    assert ack_code(ack[1:]) == ("AA", "NEXT1")
    writer.close()
    assert (await counts(receiver, "DiagnosticReport"))["DiagnosticReport"] == 1


async def test_a_frame_missing_its_end_times_out(receiver: Receiver, listen: Listen) -> None:
    listener = await listen(Limits(read_timeout_s=0.3))
    reader, writer = await asyncio.open_connection("127.0.0.1", listener.port)
    writer.write(START + corpus.oru("HALF1").encode())  # the whole message, but no end
    await writer.drain()
    closed = await asyncio.wait_for(reader.read(), 10)  # EOF: closed without an ACK
    assert closed == b""
    writer.close()
    assert (await counts(receiver, "DiagnosticReport"))["DiagnosticReport"] == 0


async def test_an_oversized_message_is_rejected(receiver: Receiver, listen: Listen) -> None:
    listener = await listen(Limits(max_bytes=4096))
    reader, writer = await asyncio.open_connection("127.0.0.1", listener.port)
    writer.write(frame(corpus.oru("BIG1").encode() + b"NTE|1||" + b"x" * 10_000 + b"\r"))
    await writer.drain()
    ack = await asyncio.wait_for(reader.readuntil(END), 10)
    assert ack_code(ack[1:])[0] == "AR"
    assert await asyncio.wait_for(reader.read(), 10) == b""  # and the connection is closed
    writer.close()
    assert (await counts(receiver, "DiagnosticReport"))["DiagnosticReport"] == 0


async def test_a_20_mb_message_is_rejected_at_the_default_limit(listen: Listen) -> None:
    listener = await listen()
    reader, writer = await asyncio.open_connection("127.0.0.1", listener.port)
    body = corpus.oru("HUGE1").encode() + b"NTE|1||" + b"y" * (20 * 1024 * 1024) + b"\r"
    writer.write(frame(body))
    with contextlib.suppress(ConnectionError):  # closed while we were still sending
        await writer.drain()
    ack = await asyncio.wait_for(reader.readuntil(END), 30)
    assert ack_code(ack[1:])[0] == "AR"
    writer.close()


async def test_garbage_between_frames_is_skipped(listen: Listen) -> None:
    listener = await listen()
    reader, writer = await asyncio.open_connection("127.0.0.1", listener.port)
    writer.write(b"\r\n  " + frame(corpus.oru("G1").encode()))
    await writer.drain()
    ack = await asyncio.wait_for(reader.readuntil(END), 30)
    assert ack_code(ack[1:]) == ("AA", "G1")
    writer.close()


def _certificate(folder: Path) -> tuple[Path, Path]:
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")])
    now = datetime.datetime.now(datetime.UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=1))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName("localhost")]), critical=False)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = folder / "cert.pem", folder / "key.pem"
    cert_path.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return cert_path, key_path


async def test_tls(listen: Listen, tmp_path: Path) -> None:
    from ingestion.hl7v2.mllp import tls_context

    cert, key = _certificate(tmp_path)
    listener = await listen(tls=tls_context(cert, key, None))
    client = ssl.create_default_context(cafile=str(cert))
    sender = await Sender.connect("localhost", listener.port, client)
    try:
        assert ack_code(await sender.send(corpus.oru("TLS1").encode())) == ("AA", "TLS1")
    finally:
        await sender.close()


async def test_mutual_tls_requires_a_client_certificate(listen: Listen, tmp_path: Path) -> None:
    from ingestion.hl7v2.mllp import tls_context

    server_dir, client_dir = tmp_path / "server", tmp_path / "client"
    server_dir.mkdir()
    client_dir.mkdir()
    cert, key = _certificate(server_dir)
    client_cert, client_key = _certificate(client_dir)
    listener = await listen(tls=tls_context(cert, key, client_cert))
    trusted = ssl.create_default_context(cafile=str(cert))
    with pytest.raises((ssl.SSLError, ConnectionError, asyncio.IncompleteReadError)):
        anonymous = await Sender.connect("localhost", listener.port, trusted)
        try:
            await anonymous.send(corpus.oru("MTLS0").encode(), wait_s=10)
        finally:
            await anonymous.close()
    trusted.load_cert_chain(client_cert, client_key)
    sender = await Sender.connect("localhost", listener.port, trusted)
    try:
        assert ack_code(await sender.send(corpus.oru("MTLS1").encode())) == ("AA", "MTLS1")
    finally:
        await sender.close()


async def test_enhanced_mode_sends_accept_then_application_ack(listen: Listen) -> None:
    listener = await listen()
    header, rest = corpus.oru("ENH1").split("\r", 1)
    sender = await Sender.connect("127.0.0.1", listener.port)
    try:
        accept = await sender.send((header + "|||AL|AL\r" + rest).encode())
        application = await sender.receive()
    finally:
        await sender.close()
    assert (ack_code(accept), ack_code(application)) == (("CA", "ENH1"), ("AA", "ENH1"))
