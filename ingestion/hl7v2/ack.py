"""The acknowledgement: MSH (sender and receiver swapped), MSA (the code and MSA-2 = the
message's MSH-10) and, for an error, ERR (where, the table 0357 code, the reason).

Original mode (MSH-15/16 empty): one ACK, AA / AE / AR. Enhanced mode: the accept
acknowledgement CA / CE / CR when MSH-15 asks for it, then the application acknowledgement
AA / AE / AR when MSH-16 asks for it (AL always, NE or empty never, ER on failure, SU on
success). Both are written once the message committed (or failed), in that order."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

from ingestion.hl7v2.errors import CODE_TEXT, Hl7Error
from ingestion.hl7v2.escape import DEFAULT, Delimiters, escape
from ingestion.hl7v2.parse import Message, Value

ACCEPTED, ERROR, REJECTED = "A", "E", "R"
DEFAULT_VERSION = "2.5.1"


def acknowledge(
    message: Message | None, outcome: str, error: Hl7Error | None = None
) -> tuple[bytes, ...]:
    """The acknowledgements to send, in order: each one's bytes (segments ended by CR, in the
    message's character set)."""
    if message is None or not message.enhanced:
        return (_ack(message, "A" + outcome, error),)
    wanted = [
        (kind, _wanted(message.msh.get(field), outcome)) for kind, field in (("C", 15), ("A", 16))
    ]
    return tuple(_ack(message, kind + outcome, error) for kind, yes in wanted if yes)


def _ack(message: Message | None, code: str, error: Hl7Error | None) -> bytes:
    d = message.delimiters if message is not None else DEFAULT
    segments = [_msh(message, d), _msa(message, code, error, d)]
    if error is not None:
        segments.append(_err(error, d))
    charset = message.charset if message is not None else "utf-8"
    return ("\r".join(segments) + "\r").encode(charset, errors="replace")


def ack_code(ack: bytes) -> tuple[str, str]:
    """(MSA-1, MSA-2) of an ACK we or a peer wrote: what a sender checks."""
    for line in ack.replace(b"\n", b"\r").split(b"\r"):
        if line.startswith(b"MSA"):
            fields = line.decode("utf-8", errors="replace").split(line[3:4].decode() or "|")
            return (fields[1] if len(fields) > 1 else "", fields[2] if len(fields) > 2 else "")
    return ("", "")


def _wanted(condition: str, outcome: str) -> bool:
    """MSH-15/16 (table 0155) for this outcome."""
    condition = condition.upper()
    if condition == "AL":
        return True
    if condition == "ER":
        return outcome != ACCEPTED
    if condition == "SU":
        return outcome == ACCEPTED
    return False  # NE, or empty in enhanced mode


def _msh(message: Message | None, d: Delimiters) -> str:
    now = datetime.now(UTC).strftime("%Y%m%d%H%M%S+0000")
    control = uuid.uuid4().hex[:20]
    if message is None:
        fields = ["", "", "", "", now, "", "ACK", control, "P", DEFAULT_VERSION]
    else:
        msh = message.msh
        fields = [
            _er7(msh.value(5), d),
            _er7(msh.value(6), d),
            _er7(msh.value(3), d),
            _er7(msh.value(4), d),
            now,
            "",
            d.component.join(["ACK", escape(message.trigger, d), "ACK"]),
            control,
            _er7(msh.value(11), d) or "P",
            _er7(msh.value(12), d) or DEFAULT_VERSION,
        ]
        charset = _er7(msh.value(18), d)
        if charset:
            fields += ["", "", "", "", "", charset]
    return d.field.join(["MSH", d.encoding_characters, *fields])


def _msa(message: Message | None, code: str, error: Hl7Error | None, d: Delimiters) -> str:
    control = escape(message.control_id, d) if message is not None else ""
    fields = ["MSA", code, control]
    if error is not None:
        fields.append(escape(str(error)[:80], d))
    return d.field.join(fields)


def _err(error: Hl7Error, d: Delimiters) -> str:
    location = ""
    if error.segment:
        parts = [error.segment, str(error.sequence or 1)]
        if error.field:
            parts += [str(error.field), "1"]
            if error.component:
                parts.append(str(error.component))
        location = d.component.join(parts)
    code = d.component.join([error.code, escape(CODE_TEXT.get(error.code, ""), d), "HL70357"])
    return d.field.join(["ERR", "", location, code, "E", "", "", "", escape(str(error), d)])


def _er7(value: Value, d: Delimiters) -> str:
    components = [d.subcomponent.join(escape(s, d) for s in subs) for subs in value.components]
    return d.component.join(components).rstrip(d.component)
