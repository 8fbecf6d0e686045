"""PII detection shared by validation (reporting), the corpus recipe and the preference data (scrubbing).

E-mail addresses and IPv4 addresses are found with regular expressions. Phone numbers are found with
``phonenumbers`` (Google's libphonenumber): a number counts only when it is *valid* for one of the hinted
regions (``+CC ...`` numbers whatever the region), so ISBNs, postal codes, ids, number ranges and dates,
which the library rejects, are left alone. Region hints come from the text's languages
(:func:`regions_for_languages`). A cheap pre-check (a run of at least 7 digits) keeps the library off
texts that cannot hold a phone number, and the library only looks at a window around each candidate.
"""
from __future__ import annotations

import re
from collections.abc import Iterable

EMAIL = re.compile(r"\b[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}\b")
IPV4 = re.compile(r"\b(?:(?:25[0-5]|2[0-4]\d|1?\d?\d)\.){3}(?:25[0-5]|2[0-4]\d|1?\d?\d)\b")
PLACEHOLDERS = {"email": "<EMAIL>", "ip": "<IP>", "phone": "<PHONE>"}
KINDS = ("email", "ip", "phone")
# Candidate phone numbers and IPs: digits with the separators people write (7 characters or more); a text
# without one holds neither, which spares the slower patterns on most texts.
_CANDIDATE = re.compile(r"\d[\d \t().\-/]{5,24}\d")
_BOOK_IDS = re.compile(r"(?:ISBN|ISSN|DOI|ISMN)(?:-1[03])?:?\s*$", re.IGNORECASE)
# Regions whose numbering plans a text in that language most likely uses (ISO 639-1 -> ISO 3166-1).
LANGUAGE_REGIONS = {
    "eu": ("ES", "FR"), "es": ("ES", "MX", "AR", "CO", "US"), "ca": ("ES", "AD", "FR"), "gl": ("ES",),
    "fr": ("FR", "BE", "CH", "CA"), "en": ("US", "GB", "IE", "AU", "CA"), "de": ("DE", "AT", "CH"),
    "it": ("IT", "CH"), "pt": ("PT", "BR"), "nl": ("NL", "BE"), "oc": ("FR",), "cy": ("GB",), "ga": ("IE",),
    "br": ("FR",), "co": ("FR",), "sv": ("SE", "FI"), "da": ("DK",), "nb": ("NO",), "fi": ("FI",),
    "pl": ("PL",), "cs": ("CZ",), "sk": ("SK",), "hu": ("HU",), "ro": ("RO", "MD"), "el": ("GR", "CY"),
    "tr": ("TR",), "et": ("EE",), "lv": ("LV",), "lt": ("LT",), "sl": ("SI",), "hr": ("HR",),
}
DEFAULT_REGIONS = ("ES", "FR", "US", "GB")


def regions_for_languages(languages: Iterable[str], extra: Iterable[str] = ()) -> tuple[str, ...]:
    """Region hints for texts in ``languages`` (unknown languages add none), plus ``extra``; in order, once."""
    out: list[str] = []
    for code in languages:
        out.extend(LANGUAGE_REGIONS.get(code, ()))
    out.extend(r.upper() for r in extra)
    return tuple(dict.fromkeys(out))


def _isbn_like(raw: str) -> bool:
    """Hyphenated 10- or 13-digit groups with a valid ISBN check digit (phonenumbers may take them for a
    US number)."""
    if raw.count("-") < 3:
        return False
    digits = [c for c in raw if c.isdigit() or c in "Xx"]
    if len(digits) == 10:
        vals = [10 if c in "Xx" else int(c) for c in digits]
        return sum((10 - i) * v for i, v in enumerate(vals)) % 11 == 0
    if len(digits) == 13 and all(c.isdigit() for c in digits):
        return sum(int(c) * (1 if i % 2 == 0 else 3) for i, c in enumerate(digits)) % 10 == 0
    return False


def find_phones(text: str, regions: Iterable[str] = DEFAULT_REGIONS) -> list[tuple[int, int]]:
    """Spans (start, end) of valid phone numbers, sorted and not overlapping."""
    import phonenumbers

    spans: list[tuple[int, int]] = []
    for cand in _CANDIDATE.finditer(text):
        if sum(c.isdigit() for c in cand.group()) < 7:
            continue
        lo, hi = max(0, cand.start() - 6), min(len(text), cand.end() + 4)  # room for "+", "(" before
        window = text[lo:hi]
        for region in regions:
            for m in phonenumbers.PhoneNumberMatcher(window, region, leniency=phonenumbers.Leniency.VALID):
                start, end = lo + m.start, lo + m.end
                if _BOOK_IDS.search(text[max(0, start - 12):start]) or _isbn_like(m.raw_string):
                    continue
                spans.append((start, end))
    spans.sort()
    merged: list[tuple[int, int]] = []
    for s, e in spans:
        if merged and s < merged[-1][1]:
            merged[-1] = (merged[-1][0], max(e, merged[-1][1]))
        else:
            merged.append((s, e))
    return merged


def _replace_spans(text: str, spans: list[tuple[int, int]], placeholder: str) -> str:
    out, last = [], 0
    for s, e in spans:
        out.append(text[last:s])
        out.append(placeholder)
        last = e
    out.append(text[last:])
    return "".join(out)


def scrub(text: str, kinds: Iterable[str] = KINDS,
          regions: Iterable[str] = DEFAULT_REGIONS) -> tuple[str, dict[str, int]]:
    """Replace PII by placeholders; returns the text and how many of each kind were replaced.
    E-mails and IPs go first, so their digits are not taken for a phone number."""
    kinds = tuple(kinds)
    counts: dict[str, int] = {}
    if "email" in kinds and "@" in text:
        text, n = EMAIL.subn(PLACEHOLDERS["email"], text)
        if n:
            counts["email"] = n
    if not _CANDIDATE.search(text):
        return text, counts
    if "ip" in kinds and "." in text:
        text, n = IPV4.subn(PLACEHOLDERS["ip"], text)
        if n:
            counts["ip"] = n
    if "phone" in kinds:
        spans = find_phones(text, tuple(regions))
        if spans:
            text = _replace_spans(text, spans, PLACEHOLDERS["phone"])
            counts["phone"] = len(spans)
    return text, counts


def detect(text: str, kinds: Iterable[str] = KINDS, regions: Iterable[str] = DEFAULT_REGIONS) -> dict[str, int]:
    """How many of each kind of PII the text holds (nothing replaced)."""
    return scrub(text, kinds, regions)[1]


def placeholders(text: str) -> dict[str, int]:
    """How many placeholders of each kind the text holds."""
    return {k: n for k, p in PLACEHOLDERS.items() if (n := text.count(p))}
