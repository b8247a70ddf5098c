"""MLLP (Minimal Lower Layer Protocol): each message framed ``0x0B`` … ``0x1C 0x0D``, one at a
time per connection, each answered with its ACK once committed.

A frame must arrive whole within the read timeout once its start byte came: a message missing
its end marker is dropped, never merged into the next one; a start byte inside a frame means
the frame before it lost its end, and that part is dropped too. A frame larger than the limit
is answered AR and the connection closed (there is no safe place to resynchronise)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import ssl
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from ingestion.hl7v2.ack import REJECTED, acknowledge
from ingestion.hl7v2.errors import INTERNAL, rejected

log = logging.getLogger(__name__)
START = b"\x0b"
END = b"\x1c\x0d"

# raw message → its acknowledgements, in order; raising: none, the connection closes.
Handler = Callable[[bytes], Awaitable[Sequence[bytes]]]


class FrameError(Exception):
    """The peer broke the framing: the connection cannot go on."""


class FrameTooLarge(FrameError):
    """A frame over the size limit: answered AR before the connection closes."""


@dataclass(frozen=True)
class Limits:
    max_bytes: int = 16 * 1024 * 1024
    read_timeout_s: float = 30.0
    idle_timeout_s: float = 3600.0


async def read_frame(reader: asyncio.StreamReader, limits: Limits) -> bytes | None:
    """The next message, or None when the peer closed (or stayed idle too long) between
    frames. Bytes outside frames (a stray newline) are skipped."""
    while True:
        try:
            first = await asyncio.wait_for(reader.read(1), limits.idle_timeout_s)
        except TimeoutError:
            return None
        if not first:
            return None
        if first == START:
            break
    try:
        body = await asyncio.wait_for(reader.readuntil(END), limits.read_timeout_s)
    except TimeoutError:
        raise FrameError("no end marker within the read timeout") from None
    except asyncio.IncompleteReadError:
        raise FrameError("the connection closed inside a frame") from None
    except asyncio.LimitOverrunError:
        raise FrameTooLarge(f"the message is larger than {limits.max_bytes:,} bytes") from None
    body = body[: -len(END)]
    if START in body:  # the frame before lost its end marker: keep only the last one
        log.warning("MLLP: a frame without its end marker was dropped")
        body = body[body.rindex(START) + 1 :]
    return body


def frame(message: bytes) -> bytes:
    return START + message + END


@dataclass
class Listener:
    """The asyncio MLLP server; each connection handled in turn, message by message."""

    handler: Handler
    limits: Limits
    host: str = "127.0.0.1"
    port: int = 2575
    tls: ssl.SSLContext | None = None
    _server: asyncio.Server | None = field(default=None, init=False)
    _connections: set[asyncio.Task[None]] = field(default_factory=set, init=False)

    async def start(self) -> None:
        self._server = await asyncio.start_server(
            self._connection,
            self.host,
            self.port,
            ssl=self.tls,
            limit=self.limits.max_bytes + len(END),
        )
        self.port = self._server.sockets[0].getsockname()[1]

    async def close(self) -> None:
        if self._server is not None:
            self._server.close()
        for task in list(self._connections):
            task.cancel()
        await asyncio.gather(*self._connections, return_exceptions=True)
        if self._server is not None:
            await self._server.wait_closed()

    async def serve_forever(self) -> None:
        assert self._server is not None
        await self._server.serve_forever()

    async def _connection(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._connections.add(task)
        try:
            await self._exchange(reader, writer)
        except (ConnectionError, ssl.SSLError, asyncio.CancelledError):
            pass
        except Exception as error:
            # Not acknowledged: the sender sends it again. The type only: an error's text can
            # quote the message (patient data).
            log.error(
                "MLLP: a message was not processed (%s); connection closed", type(error).__name__
            )
        finally:
            self._connections.discard(task)
            writer.close()
            with contextlib.suppress(ConnectionError, ssl.SSLError):
                await writer.wait_closed()

    async def _exchange(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        while True:
            try:
                message = await read_frame(reader, self.limits)
            except FrameError as error:
                log.warning("MLLP: %s; connection closed", error)
                if isinstance(error, FrameTooLarge):
                    too_large = rejected(str(error), INTERNAL, "")
                    await _send(writer, acknowledge(None, REJECTED, too_large))
                return
            if message is None:
                return
            await _send(writer, await self.handler(message))


async def _send(writer: asyncio.StreamWriter, acks: Sequence[bytes]) -> None:
    for ack in acks:
        writer.write(frame(ack))
    await writer.drain()


def tls_context(cert: Path, key: Path, client_ca: Path | None) -> ssl.SSLContext:
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert, key)
    if client_ca is not None:
        context.load_verify_locations(client_ca)
        context.verify_mode = ssl.CERT_REQUIRED
    return context


class Sender:
    """A client end of MLLP (tests, benchmarks, and a sender's reference): one message, its ACK."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader, self.writer = reader, writer

    @classmethod
    async def connect(cls, host: str, port: int, tls: ssl.SSLContext | None = None) -> Sender:
        reader, writer = await asyncio.open_connection(host, port, ssl=tls, limit=1 << 24)
        return cls(reader, writer)

    async def send(self, message: bytes, wait_s: float = 60.0) -> bytes:
        """Send one message; its (first) acknowledgement."""
        self.writer.write(frame(message))
        await self.writer.drain()
        return await self.receive(wait_s)

    async def receive(self, wait_s: float = 60.0) -> bytes:
        """The next acknowledgement (enhanced mode: the application's, after the accept one)."""
        found = await asyncio.wait_for(read_frame(self.reader, Limits()), wait_s)
        if found is None:
            raise ConnectionError("the listener closed the connection without an ACK")
        return found

    async def close(self) -> None:
        self.writer.close()
        with contextlib.suppress(ConnectionError, ssl.SSLError):
            await self.writer.wait_closed()
