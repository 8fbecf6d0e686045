"""Language identification against a wide set of languages, so that "the most likely language" means
something: CLD2 (its 165 detectable languages) decides wherever it calls its answer reliable; a text CLD2
is unsure of (short, mixed, or in a language it does not know) goes to lingua over all 75 of its
languages, in lingua's low-accuracy mode (trigram models only: about 100 MB per worker instead of more than
1 GB). Both are compiled libraries that ship their models; CLD2 reads about 15 MB/s, lingua over all its
languages about 0.3 MB/s, so lingua sees only the texts that need it.

The score recorded for a document (``language_score``) is CLD2's share of the text in the detected
language, or lingua's confidence when lingua decided.
"""
from __future__ import annotations

from functools import lru_cache

from datatrove.data import Document
from datatrove.pipeline.filters.base_filter import BaseFilter

# CLD2 codes that differ from lingua's ISO 639-1 names for the same language.
_CLD2_ALIASES = {"iw": "he", "jw": "jv", "no": "nb"}


@lru_cache(maxsize=1)
def lingua_codes() -> frozenset[str]:
    from lingua import Language

    return frozenset(lang.iso_code_639_1.name.lower() for lang in Language.all())


@lru_cache(maxsize=1)
def cld2_codes() -> frozenset[str]:
    import pycld2

    names = set(pycld2.DETECTED_LANGUAGES)
    return frozenset(_CLD2_ALIASES.get(code, code) for name, code in pycld2.LANGUAGES if name in names)


def unsupported_reason(code: str) -> str | None:
    """Why ``code`` cannot be a target language (None when it can)."""
    if code not in lingua_codes():
        return (f"{code!r} is not a language lingua can identify; use an ISO 639-1 code of one of its "
                f"{len(lingua_codes())}: {', '.join(sorted(lingua_codes()))}")
    if code not in cld2_codes():
        return f"{code!r} is not a language CLD2 can identify"
    return None


class LanguageIdentifier:
    """``identify(text) -> (code, score, decided_by)``; models load on first use (once per worker)."""

    def __init__(self, max_chars: int = 10_000):
        self.max_chars = max_chars
        self._lingua = None

    def _detector(self):
        if self._lingua is None:
            from lingua import LanguageDetectorBuilder

            self._lingua = LanguageDetectorBuilder.from_all_languages().with_low_accuracy_mode().build()
        return self._lingua

    def identify(self, text: str, target: str) -> tuple[str, float, str]:
        import pycld2

        sample = text[: self.max_chars]
        try:
            reliable, _, details = pycld2.detect(sample)
        except pycld2.error:  # e.g. a lone surrogate: let lingua judge
            reliable, details = False, ()
        found = [(_CLD2_ALIASES.get(code, code), pct / 100) for _, code, pct, _ in details if code != "un"]
        if reliable and found:
            code = found[0][0]
            share = next((s for c, s in found if c == target), 0.0)
            return code, (share if code == target else found[0][1]), "cld2"
        values = self._detector().compute_language_confidence_values(sample)
        # ties (all 0 for text with no evidence) come in an order that varies per process: sort them
        ranked = sorted(((v.value, v.language.iso_code_639_1.name.lower()) for v in values),
                        key=lambda x: (-x[0], x[1]))
        if not ranked or ranked[0][0] <= 0:
            return "unknown", 0.0, "lingua"
        return ranked[0][1], ranked[0][0], "lingua"


class LanguageFilter(BaseFilter):
    """Keeps documents whose most likely language is ``target`` with a score >= ``threshold``; records
    ``language`` and ``language_score`` in metadata, and counts which library decided."""

    name = "🌍 language ID"

    def __init__(self, target: str, threshold: float, max_chars: int = 10_000, exclusion_writer=None):
        super().__init__(exclusion_writer)
        self.target, self.threshold = target, threshold
        self.identifier = LanguageIdentifier(max_chars)

    def filter(self, doc: Document) -> bool | tuple[bool, str]:
        code, score, by = self.identifier.identify(doc.text, self.target)
        self.stat_update(f"decided_by_{by}")
        doc.metadata["language"] = code
        doc.metadata["language_score"] = round(score, 4)
        if code != self.target:
            return False, f"language_{code}"
        if score < self.threshold:
            return False, "language_low_score"
        return True
