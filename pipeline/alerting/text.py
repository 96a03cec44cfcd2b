"""Making untrusted text (review text, receivers' answers) safe to show in one line or a short excerpt."""

from __future__ import annotations

import re
import unicodedata

# Bidi overrides and isolates can make a line read differently from what it contains.
_BIDI = dict.fromkeys(map(ord, "\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069"), None)
_SPACE = re.compile(r"\s+")


def visible(text: str) -> str:
    """``text`` without control characters (bar newlines and tabs) and bidi overrides."""
    text = text.translate(_BIDI)
    return "".join(c for c in text if c in "\n\t" or unicodedata.category(c) != "Cc")


def one_line(text: str, limit: int) -> str:
    """``text`` as one visible line of at most ``limit`` characters (an ellipsis marks a cut)."""
    line = _SPACE.sub(" ", visible(text)).strip()
    return line if len(line) <= limit else line[: limit - 1].rstrip() + "…"
