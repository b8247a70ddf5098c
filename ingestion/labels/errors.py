"""Why a label cannot be printed. Messages name no patient data."""

from __future__ import annotations


class LabelError(ValueError):
    """The request cannot give a correct label: unknown category, a colour without ink, a name
    the font cannot print, a payload field that cannot be encoded, a code that does not fit."""
