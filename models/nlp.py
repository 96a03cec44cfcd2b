"""spaCy pipelines per language with sentence splitting and a registered multilingual lemmatizer."""

from __future__ import annotations

import re
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cached_property, lru_cache
from pathlib import Path
from typing import Any

import numpy as np
import spacy
import yaml
from spacy.language import Language
from spacy.tokens import Doc, Span

from models.language import normalize_code, sanitize_text

CONFIG_PATH = Path(__file__).parent / "config" / "nlp.yaml"
# spaCy forbids "." in factory names, so the version is a suffix.
LEMMATIZER_FACTORY = "reviewdesk_lemmatizer_v1"
LINE_BREAKS_COMPONENT = "reviewdesk_line_breaks_v1"
# Characters that end a line (str.splitlines's set, less the rarely meant vertical tab and form feed).
_LINE_ENDS = frozenset("\n\r\x1c\x1d\x1e\x85\u2028\u2029")


@dataclass(frozen=True)
class Sentence:
    """One sentence: the unit of evidence for topics and severity."""

    text: str
    start_char: int
    end_char: int
    lemmas: list[str]


@dataclass(frozen=True)
class ParsedText:
    """A processed text; character offsets refer to `doc.text` (sanitised and possibly truncated)."""

    doc: Doc
    lang: str
    pipeline_lang: str
    truncated: bool
    original_chars: int

    @cached_property
    def sentences(self) -> list[Sentence]:
        """The text's sentences (`sentences_of`), computed once: the analysis and severity both read them."""
        return sentences_of(self.doc)


_TEXT_KEY = "reviewdesk.text"


def doc_text(doc: Doc) -> str:
    """`doc.text`, computed once per Doc (spaCy joins every token's text again on each access)."""
    text = doc.user_data.get(_TEXT_KEY)
    if text is None:
        text = doc.user_data[_TEXT_KEY] = doc.text
    return text


@lru_cache(maxsize=4)
def load_config(path: Path = CONFIG_PATH) -> dict[str, Any]:
    """Read the spaCy pipeline settings from YAML."""
    with open(path, encoding="utf-8") as fh:
        return yaml.safe_load(fh)


@lru_cache(maxsize=4)
def _pymorphy(lang: str) -> Any:
    import pymorphy3

    return pymorphy3.MorphAnalyzer(lang=lang)


@lru_cache(maxsize=1)
def _simplemma() -> Any:
    import simplemma
    from simplemma.strategies import DefaultStrategy
    from simplemma.strategies.dictionaries.dictionary_factory import DefaultDictionaryFactory
    from simplemma.strategies.dictionaries.stream_dictionary_factory import StreamDictionaryFactory

    # The default factory decodes a whole dictionary into a dict (Polish: 3.6M entries, ~6 s, hundreds of MB);
    # the stream factory indexes the compressed stream (~2 s, ~70 MB) and decodes per lookup.
    stream = load_config()["lemmatizer"]["simplemma_dictionary"] == "stream"
    factory = StreamDictionaryFactory() if stream else DefaultDictionaryFactory()
    return simplemma.Lemmatizer(lemmatization_strategy=DefaultStrategy(dictionary_factory=factory))


@lru_cache(maxsize=1)
def _simplemma_langs() -> frozenset[str]:
    from simplemma.strategies.dictionaries.dictionary_factory import SUPPORTED_LANGUAGES

    return frozenset(SUPPORTED_LANGUAGES)


class MultilingualLemmatizer:
    """Sets token.lemma_ from pymorphy3 (Russian) or simplemma, keeping lemmas an earlier component set."""

    def __init__(self, lang: str, lowercase: bool, pymorphy_langs: list[str]) -> None:
        self.lang = lang
        self.lowercase = lowercase
        self.backend = "none"
        if lang in pymorphy_langs:
            try:
                self.morph = _pymorphy(lang)
                self.backend = "pymorphy3"
            except ValueError:  # dictionary package for this language not installed
                self.backend = "none"
        if self.backend == "none" and lang in _simplemma_langs():
            self.backend = "simplemma"
        self._cache: dict[str, str] = {}

    def _lemma(self, word: str) -> str:
        cached = self._cache.get(word)
        if cached is not None:
            return cached
        if self.backend == "pymorphy3":
            lemma = self.morph.parse(word)[0].normal_form
        elif self.backend == "simplemma":
            lemma = _simplemma().lemmatize(word, lang=self.lang)
        else:
            lemma = word
        if self.lowercase:
            lemma = lemma.lower()
        if len(self._cache) < 200_000:  # bounded: a long-running service sees unbounded vocabularies
            self._cache[word] = lemma
        return lemma

    def __call__(self, doc: Doc) -> Doc:
        for token in doc:
            if token.is_space or token.is_punct:
                token.lemma_ = token.text
            elif token.lemma_ and self.backend != "pymorphy3":
                # English: the statistical pipeline already chose a POS-aware lemma; only normalise case.
                token.lemma_ = token.lemma_.lower() if self.lowercase else token.lemma_
            else:
                token.lemma_ = self._lemma(token.text)
        return doc


@Language.component(LINE_BREAKS_COMPONENT)
def line_breaks(doc: Doc) -> Doc:
    """Start a sentence after every line break.

    Reviews are often written as lines without full stops ("Great place\nFood was cold\nStaff rude"): the
    sentencizer splits only at punctuation and the English senter joins such lines, so one sentence vector
    mixed praise and complaints. The later splitters keep these boundaries (they do not overwrite them).
    """
    after_break = False
    for token in doc:
        if token.is_space:
            after_break = after_break or any(ch in _LINE_ENDS for ch in token.text)
            continue
        if after_break and token.i > 0:
            token.is_sent_start = True
        after_break = False
    return doc


@Language.factory(
    LEMMATIZER_FACTORY,
    default_config={"lowercase": True, "pymorphy_langs": ["ru"]},
)
def make_lemmatizer(nlp: Language, name: str, lowercase: bool, pymorphy_langs: list[str]) -> MultilingualLemmatizer:
    """spaCy factory for the reviewdesk lemmatizer (pymorphy3 / simplemma)."""
    return MultilingualLemmatizer(nlp.lang, lowercase, list(pymorphy_langs))


def _lemmatizer_config(cfg: dict[str, Any]) -> dict[str, Any]:
    lem = cfg["lemmatizer"]
    return {"lowercase": bool(lem["lowercase"]), "pymorphy_langs": list(lem["pymorphy"])}


def _split_extra_stops(nlp: Language) -> None:
    # The blank tokenizers leave the Armenian full stop glued to the word ("կտամ։"), so the sentencizer
    # never sees it and the lemma is wrong; split it off like any other sentence-final punctuation.
    extra = [re.escape(ch) for ch in str(load_config()["blank"]["extra_stops"])]
    suffixes = list(nlp.Defaults.suffixes or []) + extra
    nlp.tokenizer.suffix_search = spacy.util.compile_suffix_regex(suffixes).search


@lru_cache(maxsize=64)
def _build(spacy_lang: str) -> Language:
    cfg = load_config()
    if spacy_lang == "en":
        eng = cfg["english"]
        nlp = spacy.load(eng["model"], exclude=list(eng["exclude"]))
        for pipe in eng["enable"]:
            nlp.enable_pipe(pipe)
        nlp.add_pipe(LINE_BREAKS_COMPONENT, first=True)
    else:
        nlp = spacy.blank(spacy_lang)
        _split_extra_stops(nlp)
        nlp.add_pipe(LINE_BREAKS_COMPONENT)
        nlp.add_pipe("sentencizer")
    nlp.add_pipe(cfg["lemmatizer"]["factory"], config=_lemmatizer_config(cfg))
    return nlp


@lru_cache(maxsize=256)
def pipeline_lang(lang: str | None) -> str:
    """The spaCy language a code is processed with: its own class if spaCy can build it, else the fallback."""
    code = normalize_code(lang)
    fallback = str(load_config()["blank"]["fallback_lang"])
    if not code or code == "und" or not code.isalpha():
        return fallback
    if code == "en":
        return code
    try:
        spacy.blank(code)
    except ImportError:  # unknown code, or a class needing an optional tokenizer package (ja, ko, th, vi)
        return fallback
    return code


def get_pipeline(lang: str | None) -> Language:
    """Cached spaCy pipeline for a language code ("und" and unknown codes get the multilingual one)."""
    return _build(pipeline_lang(lang))


def truncate(text: str, max_chars: int | None = None) -> tuple[str, bool]:
    """Cut a text to the configured maximum, at a whitespace when one is near; returns (text, truncated)."""
    limit = int(max_chars if max_chars is not None else load_config()["max_chars"])
    if len(text) <= limit:
        return text, False
    cut = text.rfind(" ", max(0, limit - 200), limit)
    return text[: cut if cut > 0 else limit], True


# Recently parsed texts: the analysis pipeline asks for sentences and then for severity on the same text,
# and parsing (the English tagger above all) is the expensive part of both.
_CACHE: OrderedDict[tuple[str, str | None], ParsedText] = OrderedDict()


def _remember(key: tuple[str, str | None], parsed: ParsedText) -> None:
    # Nothing downstream reads the tok2vec output; dropping it keeps cached English docs small.
    parsed.doc.tensor = np.zeros((0,), dtype="float32")
    _CACHE[key] = parsed
    _CACHE.move_to_end(key)
    while len(_CACHE) > int(load_config()["parse_cache_size"]):
        _CACHE.popitem(last=False)


def parse_many(texts: Sequence[str], langs: Sequence[str | None]) -> list[ParsedText]:
    """Sanitise, truncate and parse many texts, batching each language through `nlp.pipe`."""
    out: list[ParsedText | None] = [None] * len(texts)
    todo: dict[str, list[int]] = {}
    prepared: dict[int, tuple[str, bool, int]] = {}
    for i, (text, lang) in enumerate(zip(texts, langs, strict=True)):
        cached = _CACHE.get((text or "", lang))
        if cached is not None:
            out[i] = cached
            continue
        clean = sanitize_text(text or "")
        short, truncated = truncate(clean)
        prepared[i] = (short, truncated, len(clean))
        todo.setdefault(pipeline_lang(lang), []).append(i)
    batch = int(load_config()["batch_size"])
    for plang, idxs in todo.items():
        docs = _build(plang).pipe((prepared[i][0] for i in idxs), batch_size=batch)
        for i, doc in zip(idxs, docs, strict=True):
            _, truncated, n = prepared[i]
            parsed = ParsedText(doc, normalize_code(langs[i]) or "und", plang, truncated, n)
            _remember((texts[i] or "", langs[i]), parsed)
            out[i] = parsed
    return [p for p in out if p is not None]


def parse(text: str, lang: str | None) -> ParsedText:
    """Sanitise, truncate and run the language's pipeline over a text (cached for recent texts)."""
    return parse_many([text], [lang])[0]


def _attached_punctuation(doc: Doc, i: int) -> bool:
    """Whether token i closes the token before it: sentence-final punctuation with no space between them."""
    tok = doc[i]
    return i > 0 and tok.is_punct and not tok.is_left_punct and not tok.is_quote and not doc[i - 1].is_space \
        and not doc[i - 1].whitespace_


def _give_back_punctuation(doc: Doc, s: Span, out: list[Sentence], text: str) -> Span:
    """Move punctuation that the senter put at the start of `s` ("No" | ". Never again.") to the sentence before."""
    cut = s.start
    while cut < s.end and _attached_punctuation(doc, cut):
        cut += 1
    if cut == s.start or cut == s.end:
        # Nothing to move, or a punctuation-only piece (the caller joins those whole).
        return s
    end = doc[cut - 1].idx + len(doc[cut - 1].text)
    prev = out[-1]
    out[-1] = Sentence(text[prev.start_char:end], prev.start_char, end,
                       prev.lemmas + [t.lemma_ for t in doc[s.start:cut]])
    return doc[cut:s.end]


def sentences_of(doc: Doc) -> list[Sentence]:
    """Sentences of a processed Doc with their lemmas; punctuation-only pieces join the previous sentence."""
    out: list[Sentence] = []
    text = doc_text(doc)
    for s in doc.sents:
        if out:
            s = _give_back_punctuation(doc, s, out, text)
        raw = s.text
        if not raw.strip():
            continue
        lem = [t.lemma_ for t in s if not t.is_space]
        # Line breaks and spaces around a sentence are layout, not evidence: a sentence's text and offsets
        # leave them out (the encoder's tokens are the same without leading ones; a trailing one adds a token).
        start = s.start_char + len(raw) - len(raw.lstrip())
        end = s.start_char + len(raw.rstrip())
        if out and not any(ch.isalnum() for ch in raw):
            # The statistical senter sometimes splits "No." into "No" | "."; evidence should stay whole.
            prev = out[-1]
            out[-1] = Sentence(text[prev.start_char:end], prev.start_char, end, prev.lemmas + lem)
        else:
            out.append(Sentence(text[start:end], start, end, lem))
    return out


def analyze_sentences(text: str, lang: str | None) -> list[Sentence]:
    """Split a text into sentences with lemmas, using the pipeline for `lang`."""
    return list(parse(text, lang).sentences)


def analyze_sentences_many(texts: Sequence[str], langs: Sequence[str | None]) -> list[list[Sentence]]:
    """Batched `analyze_sentences` (about 2.5x faster for English than one call per text)."""
    return [list(p.sentences) for p in parse_many(texts, langs)]


_CLAUSE_PUNCT = re.compile(r"\s*[,;:–—]\s+|\s+-\s+")


@lru_cache(maxsize=64)
def _conjunction_pattern(lang: str) -> re.Pattern[str] | None:
    words = load_config().get("clauses", {}).get("conjunctions", {}).get(normalize_code(lang) or "", [])
    if not words:
        return None
    # Longest first, so "потому что" wins over a shorter alternative starting the same way.
    alternatives = "|".join(re.escape(w) for w in sorted(words, key=len, reverse=True))
    return re.compile(rf"\s+(?:{alternatives})\s+", re.IGNORECASE)


def clauses(text: str, lang: str | None) -> list[tuple[int, int]]:
    """Character spans of a sentence's clauses; empty when it has only one (rules in config/nlp.yaml `clauses`)."""
    cfg = load_config().get("clauses", {})
    min_words, side = int(cfg.get("min_words", 3)), int(cfg.get("conjunction_side_words", 4))
    cuts: list[tuple[int, int]] = []
    last = 0
    for m in _CLAUSE_PUNCT.finditer(text):
        cuts.append((last, m.start()))
        last = m.end()
    cuts.append((last, len(text)))
    conj = _conjunction_pattern(lang or "")
    pieces: list[tuple[int, int]] = []
    for a, b in cuts:
        start = a
        if conj is not None:
            for m in conj.finditer(text, a, b):
                if len(text[start:m.start()].split()) >= side and len(text[m.end():b].split()) >= side:
                    pieces.append((start, m.start()))
                    start = m.start()
        pieces.append((start, b))
    merged: list[tuple[int, int]] = []
    for a, b in pieces:
        if not text[a:b].strip():
            continue
        if merged and len(text[a:b].split()) < min_words:
            merged[-1] = (merged[-1][0], b)
        else:
            merged.append((a, b))
    if len(merged) > 1 and len(text[merged[0][0]:merged[0][1]].split()) < min_words:
        merged[1] = (merged[0][0], merged[1][1])
        merged = merged[1:]
    if len(merged) < 2:
        return []
    out = []
    for a, b in merged:
        # Trim the spaces and joining punctuation that the cuts leave at either end.
        while a < b and (text[a].isspace() or text[a] in ",;:-–—"):
            a += 1
        while b > a and (text[b - 1].isspace() or text[b - 1] in ",;:-–—"):
            b -= 1
        out.append((a, b))
    return out
