r"""HL7 escape sequences (v2.x chapter 2.7): ``\F\ \S\ \T\ \R\ \E\`` delimiters,
``\.br\`` line breaks, ``\Xhh..\`` bytes; highlighting and formatting commands are dropped."""

from __future__ import annotations

import re
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Delimiters:
    field: str = "|"
    component: str = "^"
    repetition: str = "~"
    escape: str = "\\"
    subcomponent: str = "&"

    @property
    def encoding_characters(self) -> str:
        """MSH-2 as we write it."""
        return self.component + self.repetition + self.escape + self.subcomponent


DEFAULT = Delimiters()
# Formatting commands (FT) that carry no text of their own.
_DROPPED = ("H", "N", ".fi", ".nf", ".ce", ".in", ".ti", ".sk")


def unescape(text: str, delimiters: Delimiters, charset: str) -> str:
    escape = delimiters.escape
    if escape not in text:
        return text
    pattern = re.compile(
        re.escape(escape) + r"([^" + re.escape(escape) + r"]*)" + re.escape(escape)
    )
    return pattern.sub(lambda found: _expand(found.group(1), delimiters, charset), text)


def _expand(body: str, delimiters: Delimiters, charset: str) -> str:
    simple = {
        "F": delimiters.field,
        "S": delimiters.component,
        "T": delimiters.subcomponent,
        "R": delimiters.repetition,
        "E": delimiters.escape,
        ".br": "\n",
    }
    if body in simple:
        return simple[body]
    if body.startswith(".sp"):
        count = body[3:].strip().lstrip("+")
        return "\n" * (int(count) if count.isdigit() else 1)
    if body.startswith("X") and len(body) % 2 == 1:
        try:
            return bytes.fromhex(body[1:]).decode(charset, errors="replace")
        except ValueError:
            pass
    if body.startswith(_DROPPED) or body.startswith(("Z", "C", "M")):
        return ""
    # Not an escape we know: keep it as it came (a lone backslash in free text, say).
    return delimiters.escape + body + delimiters.escape


def escape(text: str, delimiters: Delimiters = DEFAULT) -> str:
    """The inverse, for values we write (ACK text): the escape character first."""
    d = delimiters
    table = [
        (d.escape, f"{d.escape}E{d.escape}"),
        (d.field, f"{d.escape}F{d.escape}"),
        (d.component, f"{d.escape}S{d.escape}"),
        (d.subcomponent, f"{d.escape}T{d.escape}"),
        (d.repetition, f"{d.escape}R{d.escape}"),
    ]
    for raw, escaped in table:
        text = text.replace(raw, escaped)
    return text.replace("\r\n", "\n").replace("\r", "\n").replace("\n", f"{d.escape}.br{d.escape}")
