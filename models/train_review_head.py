"""Train the review head: how a whole review is read from its pooled vector and its sentences' readings.

``python -m models.train_review_head --data ../shared/data`` writes ``models/artifacts/sentiment/review_head.json``.

The sentence head reads a review through the length-weighted mean of its sentence vectors; in a long account a few
complaints drown (Russian restaurant reviews with more complaints than praise were read positive). The review head
is a multinomial logistic regression over :func:`models.sentiment.review_features` (pooled reading, the sentences'
mean and strongest readings, the shares of sentences read negative and positive, the sentence count), applied to texts
of two sentences or more. Training rows are whole reviews of the **train** splits only: SemEval en/ru restaurant
reviews (gold: the majority of their polar opinions), SentiRuEval-2015 restaurant and car reviews (their own label;
SemEval ru reviews with the same id are left to SentiRuEval's label), PolEmo 2.0 reviews, and the written service
reviews the sentence head trains on (en, ru, hu, he, hy). Each source weighs the same in total, so PolEmo's 5,700
reviews do not decide alone. The variant (C, negative-class weight) is chosen by the mean dev macro-F1 over SemEval
en/ru, SentiRuEval, PolEmo and the written Polish reviews (no head trains on those), all printed.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Annotated, Any

import numpy as np
import typer

from models.review_eval import (
    LABELS,
    EvalItem,
    polemo_reviews,
    semeval_reviews,
    sentiment_scores,
    sentirueval_reviews,
    written_reviews,
)
from models.sentiment import ARTIFACT_DIR, REVIEW_HEAD_FILE, SentimentModel, review_features

MIN_SENTENCES = 2
GRID = [(c, neg) for c in (0.1, 1.0) for neg in (1.0, 1.5)]
app = typer.Typer(add_completion=False, help=__doc__)


def base_model() -> SentimentModel:
    """The shipped sentence head without any review head (its readings are the review head's inputs)."""
    model = SentimentModel.load()
    model.review_head = None
    return model


def review_rows(items: list[EvalItem], model: SentimentModel) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Features, pooled probabilities and sentence counts of the items, as the Analyzer reads them."""
    from models.sentiment import pool_sentences
    from models.train_sentiment import sentence_vectors

    texts, langs = [i.text for i in items], [i.lang or "und" for i in items]
    sentences, vectors = sentence_vectors(texts, langs)
    flat = [x for ss in sentences for x in ss]
    sentence_probs = model.probabilities(np.concatenate(vectors),
                                         [g for ss, g in zip(sentences, langs, strict=True) for _ in ss], flat)
    feats, pooled, counts, start = [], [], [], 0
    for ss, vecs, text, lang in zip(sentences, vectors, texts, langs, strict=True):
        n = len(ss)
        probs = model.probabilities(pool_sentences(vecs, [len(x) for x in ss])[None], [lang], [text])[0]
        feats.append(review_features(probs, sentence_probs[start:start + n], [len(x) for x in ss]))
        pooled.append(probs)
        counts.append(n)
        start += n
    return np.array(feats), np.array(pooled), np.array(counts)


def training_items(data: Path | None) -> list[EvalItem]:
    """Whole reviews of the train splits (module docstring)."""
    from models.train_sentiment import service_rows

    senti = sentirueval_reviews("train", data)
    known = {i.id.rsplit(":", 1)[1] for i in senti if ":restaurant:" in i.id}
    semeval_ru = [i for i in semeval_reviews("ru", "train", data) if i.id.rsplit(":", 1)[1] not in known]
    written = [EvalItem(str(r["id"]), r["text"], r["lang"], "written", r["label"]) for r in service_rows()
               if r["lang"] != "pl"]  # the Polish written reviews are the dev set here, as for the sentence head
    return semeval_reviews("en", "train", data) + semeval_ru + senti + polemo_reviews("train", data) + written


def dev_sets(data: Path | None) -> dict[str, list[EvalItem]]:
    """The dev views the variant is chosen on."""
    return {"semeval-en": semeval_reviews("en", "dev", data), "semeval-ru": semeval_reviews("ru", "dev", data),
            "sentirueval-ru": sentirueval_reviews("dev", data), "polemo-pl": polemo_reviews("dev", data),
            "written-pl": written_reviews("dev")}


def _gold(items: list[EvalItem]) -> np.ndarray:
    return np.array([LABELS.index(i.label) if i.label in LABELS else -1 for i in items])


def train(data: Path | None, out: Path = ARTIFACT_DIR / REVIEW_HEAD_FILE) -> dict[str, Any]:
    """Fit every variant of the grid, choose on dev, write the artifact; returns the report."""
    from sklearn.linear_model import LogisticRegression

    model = base_model()
    items = training_items(data)
    x, _, counts = review_rows(items, model)
    y = _gold(items)
    keep = (y >= 0) & (counts >= MIN_SENTENCES)
    sources = np.array([i.set for i in items])
    weight = np.zeros(len(y))
    for source in set(sources[keep]):
        rows = keep & (sources == source)
        weight[rows] = 1.0 / rows.sum()
    dev = {name: (review_rows(rows, model), _gold(rows)) for name, rows in dev_sets(data).items()}
    report: dict[str, Any] = {"training_reviews": int(keep.sum()),
                              "per_source": {s: int((keep & (sources == s)).sum()) for s in sorted(set(sources))},
                              "dev_pooled_only": {name: sentiment_scores([LABELS[v] if v >= 0 else "mixed" for v in g],
                                                                         [LABELS[k] for k in f[1].argmax(1)])
                                                  for name, (f, g) in dev.items()},
                              "variants": []}
    best = None
    for c, neg in GRID:
        cw = np.array([neg, 1.0, 1.0])[np.maximum(y, 0)]
        sample_weight = (weight * cw)[keep] * keep.sum()
        clf = LogisticRegression(C=c, max_iter=5000).fit(x[keep], y[keep], sample_weight=sample_weight)
        scores = {}
        for name, ((fx, pooled, n), g) in dev.items():
            probs = np.where((n >= MIN_SENTENCES)[:, None], clf.predict_proba(fx), pooled)
            scores[name] = sentiment_scores([LABELS[v] if v >= 0 else "mixed" for v in g],
                                            [LABELS[k] for k in probs.argmax(1)])
        mean = float(np.mean([s["macro_f1"] for s in scores.values()]))
        report["variants"].append({"C": c, "negative_weight": neg, "dev_mean_macro_f1": round(mean, 4), "dev": scores})
        if best is None or mean > best[0]:
            best = (mean, c, neg, clf)
    assert best is not None
    _, c, neg, clf = best
    payload = {"coef": clf.coef_.round(6).tolist(), "intercept": clf.intercept_.round(6).tolist(),
               "min_sentences": MIN_SENTENCES, "classes": list(LABELS), "C": c, "negative_weight": neg,
               "sentence_head": model.version}
    payload["version"] = "review-head-" + hashlib.sha1(json.dumps(payload, sort_keys=True).encode()).hexdigest()[:8]
    payload["report"] = report
    out.write_text(json.dumps(payload, indent=1) + "\n", encoding="utf-8")
    return payload


@app.command()
def main(data: Annotated[Path | None, typer.Option(help="labelled data (default: $REVIEWDESK_DATA)")] = None) -> None:
    """Train, choose on dev, write the artifact and print the dev figures."""
    payload = train(data)
    for variant in payload["report"]["variants"]:
        typer.echo(f"C={variant['C']} negative weight {variant['negative_weight']}: dev mean macro-F1 "
                   f"{variant['dev_mean_macro_f1']}")
    typer.echo(f"chosen C={payload['C']} negative weight {payload['negative_weight']} -> {payload['version']}")


if __name__ == "__main__":
    app()
