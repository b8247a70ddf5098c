"""``multipart/form-data`` with one scan file, streamed to disk as it arrives (never held in
memory, refused as soon as it passes the limit)."""

from __future__ import annotations

from pathlib import Path

from python_multipart.multipart import MultipartParser, parse_options_header
from starlette.requests import Request

from fhir_server.errors import Invalid, NotSupported, TooLarge
from ingestion.intake import Intake, RefusedFile, Stored, TooLargeFile


class _Parts:
    """The parser's callbacks: the first part with a file name goes to ``Intake``; other
    fields are ignored."""

    def __init__(self, directory: Path, limit: int) -> None:
        self.directory = directory
        self.limit = limit
        self.intake: Intake | None = None
        self.name = ""
        self.files = 0
        self._writing = False
        self._field = b""
        self._value = b""
        self._headers: dict[bytes, bytes] = {}

    def on_part_begin(self) -> None:
        self._headers = {}

    def on_header_field(self, data: bytes, start: int, end: int) -> None:
        self._field += data[start:end]

    def on_header_value(self, data: bytes, start: int, end: int) -> None:
        self._value += data[start:end]

    def on_header_end(self) -> None:
        self._headers[self._field.strip().lower()] = self._value.strip()
        self._field, self._value = b"", b""

    def on_headers_finished(self) -> None:
        _, options = parse_options_header(self._headers.get(b"content-disposition", b""))
        filename = options.get(b"filename")
        self._writing = filename is not None and self.intake is None
        if filename is not None:
            self.files += 1
        if self._writing:
            self.name = Path(filename.decode("utf-8", "replace")).name[:255] if filename else ""
            self.intake = Intake(self.directory, self.limit)

    def on_part_data(self, data: bytes, start: int, end: int) -> None:
        if self._writing and self.intake is not None:
            self.intake.write(data[start:end])

    def on_part_end(self) -> None:
        self._writing = False


async def receive_scan(request: Request, directory: Path, limit: int) -> tuple[Stored, str]:
    """The uploaded file, kept under its SHA-256, and the name it was sent with."""
    media_type, options = parse_options_header(request.headers.get("content-type", ""))
    boundary = options.get(b"boundary")
    if media_type != b"multipart/form-data" or not boundary:
        raise NotSupported("Send the scan as multipart/form-data", status=415)
    parts = _Parts(directory, limit)
    callbacks = {name: getattr(parts, name) for name in dir(parts) if name.startswith("on_")}
    parser = MultipartParser(boundary, callbacks)  # type: ignore[arg-type]
    try:
        async for chunk in request.stream():
            parser.write(chunk)
        parser.finalize()
        if parts.intake is None:
            raise Invalid("The form has no file part (Content-Disposition with a filename)")
        if parts.files > 1:
            raise Invalid("Send one scan file per request")
        return parts.intake.finish(), parts.name
    except TooLargeFile as error:
        raise TooLarge(f"The scan is larger than {limit} bytes") from error
    except RefusedFile as error:
        raise NotSupported(f"Not accepted: {error}", status=415) from None
    finally:
        if parts.intake is not None:
            parts.intake.abort()  # a no-op once finished (the file was moved)
