"""PII patterns shared by validation (reporting), the corpus recipe and the preference data (scrubbing)."""
from __future__ import annotations

import re

EMAIL = re.compile(r"\b[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}\b")
IPV4 = re.compile(r"\b(?:(?:25[0-5]|2[0-4]\d|1?\d?\d)\.){3}(?:25[0-5]|2[0-4]\d|1?\d?\d)\b")
PHONE = re.compile(r"(?<![\w.])(?:\+\d{1,3}[ .-]?)?(?:\d[ .-]?){8,11}\d(?![\w.])")
# Order matters: e-mails and IPs first, so their digits are not taken for a phone number.
PATTERNS = {"email": (EMAIL, "<EMAIL>"), "ip": (IPV4, "<IP>"), "phone": (PHONE, "<PHONE>")}


def scrub(text: str, kinds: tuple[str, ...] = ("email", "ip", "phone")) -> tuple[str, dict[str, int]]:
    """Replace PII by placeholders; returns the text and how many of each kind were replaced."""
    counts: dict[str, int] = {}
    for kind in (k for k in PATTERNS if k in kinds):
        rx, placeholder = PATTERNS[kind]
        text, n = rx.subn(placeholder, text)
        if n:
            counts[kind] = n
    return text, counts
