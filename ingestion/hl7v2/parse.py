"""ER7 bytes → a ``Message``: segments, fields, repetitions, components, subcomponents, each
leaf unescaped. Segment separators CR, LF and CRLF are all accepted (python-hl7 and hl7apy both
drop segments silently on LF alone); the character set comes from MSH-18 (UTF-8 when empty)."""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, field

from ingestion.hl7v2.errors import DATA_TYPE, SEGMENT_SEQUENCE, Hl7Error, rejected
from ingestion.hl7v2.escape import Delimiters, unescape

# MSH-18 values (HL7 table 0211) → Python codecs.
CHARSETS = {
    "": "utf-8",
    "ASCII": "ascii",
    "UNICODE UTF-8": "utf-8",
    "UNICODE": "utf-8",
    "UTF-8": "utf-8",
    "8859/1": "iso-8859-1",
    "8859/2": "iso-8859-2",
    "8859/5": "iso-8859-5",
    "8859/7": "iso-8859-7",
    "8859/9": "iso-8859-9",
    "8859/15": "iso-8859-15",
    "UNICODE UTF-16": "utf-16",
}
_NAME = re.compile(r"[A-Z][A-Z0-9]{2}")
_EMPTY: tuple[tuple[str, ...], ...] = ()


@dataclass(frozen=True, slots=True)
class Value:
    """One repetition of a field: its components, each a tuple of subcomponents."""

    components: tuple[tuple[str, ...], ...] = _EMPTY

    def component(self, number: int, sub: int = 1) -> str:
        if number > len(self.components):
            return ""
        subs = self.components[number - 1]
        return subs[sub - 1] if sub <= len(subs) else ""

    @property
    def text(self) -> str:
        return self.component(1)

    def part(self, number: int) -> Value:
        """Component ``number`` as a value of its own (its subcomponents become components)."""
        if number > len(self.components):
            return Value()
        return Value(tuple((s,) for s in self.components[number - 1]))

    @property
    def empty(self) -> bool:
        return not any(any(subs) for subs in self.components)


NO_VALUE = Value()


@dataclass(frozen=True, slots=True)
class Segment:
    name: str
    sequence: int  # 1-based among the message's segments of this name (for ERR)
    fields: tuple[tuple[Value, ...], ...]  # fields[n]: the repetitions of SEG-n

    def repetitions(self, number: int) -> tuple[Value, ...]:
        if number >= len(self.fields):
            return ()
        return tuple(v for v in self.fields[number] if not v.empty)

    def value(self, number: int) -> Value:
        found = self.repetitions(number)
        return found[0] if found else NO_VALUE

    def get(self, number: int, component: int = 1, sub: int = 1) -> str:
        return self.value(number).component(component, sub)


@dataclass(frozen=True)
class Message:
    segments: tuple[Segment, ...]
    delimiters: Delimiters
    charset: str  # the Python codec
    raw: bytes = field(repr=False)

    @property
    def msh(self) -> Segment:
        return self.segments[0]

    def all(self, name: str) -> list[Segment]:
        return [s for s in self.segments if s.name == name]

    def first(self, name: str) -> Segment | None:
        return next((s for s in self.segments if s.name == name), None)

    @property
    def message_type(self) -> str:
        return self.msh.get(9, 1)

    @property
    def trigger(self) -> str:
        return self.msh.get(9, 2)

    @property
    def control_id(self) -> str:
        return self.msh.get(10)

    @property
    def version(self) -> str:
        return self.msh.get(12)

    @property
    def sender(self) -> str:
        """MSH-3 and MSH-4 (application and facility): with MSH-10, the key of a message."""
        return "|".join(_hd(self.msh.value(n)) for n in (3, 4))

    @property
    def content_digest(self) -> str:
        """SHA-256 of the segments after MSH: the same message sent again has the same one
        (senders often stamp a new MSH-7 on a resend)."""
        lines = [
            line
            for line in _normalize(self.raw.decode(self.charset, errors="replace")).split("\r")
            if line
        ]
        return hashlib.sha256("\r".join(lines[1:]).encode()).hexdigest()

    @property
    def enhanced(self) -> bool:
        return bool(self.msh.get(15) or self.msh.get(16))


def _hd(value: Value) -> str:
    return "^".join(value.component(n) for n in (1, 2, 3)).rstrip("^")


def parse(raw: bytes) -> Message:
    start = raw.lstrip(b"\r\n\t \x0b\xef\xbb\xbf")
    if not start.startswith(b"MSH") or len(start) < 8:
        raise rejected("the message does not start with an MSH segment", SEGMENT_SEQUENCE, "")
    delimiters = _delimiters(start)
    charset = _charset(start, delimiters)
    try:
        text = start.decode(charset)
    except (UnicodeDecodeError, LookupError):
        raise Hl7Error(f"the message is not valid {charset}", DATA_TYPE, "MSH", 1, 18) from None
    lines = [line for line in _normalize(text).split("\r") if line.strip()]
    counts: dict[str, int] = {}
    segments = []
    for position, line in enumerate(lines):
        name = line[:3]
        if not _NAME.fullmatch(name) or (len(line) > 3 and line[3] != delimiters.field):
            raise Hl7Error(f"segment {position + 1} has no valid segment name", SEGMENT_SEQUENCE)
        counts[name] = counts.get(name, 0) + 1
        segments.append(_segment(line, counts[name], delimiters, charset, position == 0))
    return Message(tuple(segments), delimiters, charset, raw)


def _normalize(text: str) -> str:
    return text.replace("\r\n", "\r").replace("\n", "\r")


def _delimiters(start: bytes) -> Delimiters:
    head = start[3:9].decode("latin-1")
    field_sep = head[0]
    encoding = head[1:].split(field_sep, 1)[0] if field_sep in head[1:] else ""
    chars = [field_sep, *encoding[:4]]
    if (
        len(encoding) not in (4, 5)
        or len(set(chars)) != 5
        or any(c.isalnum() or c.isspace() for c in chars)
    ):
        raise rejected("MSH-1/MSH-2 do not hold valid encoding characters", DATA_TYPE, "MSH", 2)
    return Delimiters(field_sep, encoding[0], encoding[1], encoding[2], encoding[3])


def _charset(start: bytes, delimiters: Delimiters) -> str:
    first = re.split(rb"[\r\n]", start, maxsplit=1)[0].decode("latin-1")
    fields = first.split(delimiters.field)
    declared = fields[17] if len(fields) > 17 else ""
    declared = declared.split(delimiters.repetition)[0].split(delimiters.component)[0].strip()
    codec = CHARSETS.get(declared.upper())
    if codec is None:
        raise rejected("MSH-18 names a character set we do not support", DATA_TYPE, "MSH", 18)
    return codec


def _segment(line: str, sequence: int, d: Delimiters, charset: str, is_msh: bool) -> Segment:
    parts = line.split(d.field)
    name = parts[0]
    if is_msh:
        # MSH-1 is the field separator itself and MSH-2 the encoding characters: not split.
        encoding = parts[1] if len(parts) > 1 else ""
        header = ((Value(((d.field,),)),), (Value(((encoding,),)),))
        rest = tuple(_field(p, d, charset) for p in parts[2:])
        return Segment(name, sequence, ((), *header, *rest))
    return Segment(name, sequence, ((), *(_field(p, d, charset) for p in parts[1:])))


def _field(text: str, d: Delimiters, charset: str) -> tuple[Value, ...]:
    if not text:
        return ()
    return tuple(
        Value(
            tuple(
                tuple(unescape(sub, d, charset) for sub in component.split(d.subcomponent))
                for component in repetition.split(d.component)
            )
        )
        for repetition in text.split(d.repetition)
    )
