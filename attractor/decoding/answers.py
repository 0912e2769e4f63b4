"""Answer extraction and normalisation for numeric word problems."""
from __future__ import annotations

import re
from decimal import Decimal, InvalidOperation

_NUMBER = r"-?\$?(?:\d{1,3}(?:,\d{3})+|\d+)(?:\.\d+)?"
_NUMBER_RE = re.compile(_NUMBER)
_STRICT_RES = (
    re.compile(r"####\s*(" + _NUMBER + ")"),
    re.compile(r"the answer is[:\s]*(" + _NUMBER + ")", re.IGNORECASE),
)
EXTRACTION_MODES = ("strict", "flexible", "strict_then_flexible")


def normalize_number(text: str) -> str | None:
    """Canonical form of a number: no commas, ``$`` or trailing ``.``; ``5.0`` -> ``5``,
    ``-0`` -> ``0``, ``2.50`` -> ``2.5``. ``None`` if it is not a number."""
    s = text.strip().replace(",", "").replace("$", "").rstrip(".")
    try:
        d = Decimal(s)
    except InvalidOperation:
        return None
    if not d.is_finite():
        return None
    if d == d.to_integral_value():
        return str(int(d))
    return format(d.normalize(), "f")


def extract_strict(text: str) -> str | None:
    """The number after ``####`` or, failing that, after "The answer is" (first occurrence)."""
    for pattern in _STRICT_RES:
        m = pattern.search(text)
        if m:
            return normalize_number(m.group(1))
    return None


def extract_flexible(text: str) -> str | None:
    """The last number anywhere in the text (the common lenient GSM8K extraction)."""
    found = _NUMBER_RE.findall(text)
    return normalize_number(found[-1]) if found else None


def extract_answer(text: str, mode: str = "strict_then_flexible") -> str | None:
    """Extract with ``strict``, ``flexible``, or strict falling back to flexible."""
    if mode == "strict":
        return extract_strict(text)
    if mode == "flexible":
        return extract_flexible(text)
    if mode == "strict_then_flexible":
        strict = extract_strict(text)
        return strict if strict is not None else extract_flexible(text)
    raise ValueError(f"extraction: unknown mode {mode!r}; valid: {', '.join(EXTRACTION_MODES)}")
