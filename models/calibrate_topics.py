"""Per-language scale of zero-shot topic scores, from unlabelled training-split sentences.

Centred zero-shot scores are compressed outside English: the same complaint scores 0.029 in Polish and 0.066
in English, and the spread of scores over ordinary sentences is 1.5-2x smaller in pl, hu and he than in en.
One threshold for every language therefore misses most non-English topics. This command measures the spread
(standard deviation of centred scores over all topics) per language on sentences of the training splits,
which are never evaluated on, and writes ``artifacts/topics/language_scale.json``: languages without
supervised heads get their scores multiplied by ``std(en) / std(lang)`` before the thresholds apply, and any
other language without a reference gets the mean of those factors. ``std(en)`` is measured without the sentiment
projection (``zero_shot.remove_polarity``): the default threshold and the unlabelled floor (0.025) were set on
that spread, and the projection narrows it by about 15 %.

    python -m models.calibrate_topics --data ../shared/data
"""

from __future__ import annotations

import json
import random
from pathlib import Path
from typing import Annotated

import numpy as np
import typer

from models.topics import artifacts_dir, load_config

LANGS = ("en", "ru", "pl", "hu", "he")
SEED = 3
MAX_SENTENCES = 600


def main(
    data: Annotated[Path, typer.Option(help="The shared labelled data folder.")] = Path("../shared/data"),
) -> None:
    """Measure the spread of zero-shot topic scores per language and write language_scale.json."""
    from models.datasets import load_sentiment
    from models.encoder import Encoder
    from models.nlp import analyze_sentences_many
    from models.topics import TopicModel

    encoder = Encoder.load()
    topics = TopicModel.load(encoder=encoder)
    rng = random.Random(SEED)
    spread, counts = {}, {}
    reference = None
    for lang in LANGS:
        rows = load_sentiment(lang, "train", data)
        texts = [r.text for r in rng.sample(rows, min(400, len(rows)))]
        sentences = [s.text for doc in analyze_sentences_many(texts, [lang] * len(texts)) for s in doc]
        sentences = sentences[:MAX_SENTENCES]
        vectors = encoder.embed(sentences)
        scores = topics.zero_shot_scores(vectors)
        spread[lang], counts[lang] = float(scores.std()), len(sentences)
        if lang == "en":
            reference = float(topics.with_polarity_axes(None).zero_shot_scores(vectors).std())
        typer.echo(f"{lang}: {len(sentences)} sentences, std {spread[lang]:.4f}")
    heads = set(load_config().get("head_languages", ["en", "ru"]))
    assert reference is not None
    scale = {lang: round(reference / spread[lang], 4) for lang in LANGS if lang not in heads}
    out = {
        "reference": "en",
        "reference_std": round(reference, 5),
        "std": {k: round(v, 5) for k, v in spread.items()},
        "sentences": counts,
        "scale": scale,
        "default_scale": round(float(np.mean(list(scale.values()))), 4),
        "data": "training splits of ../shared/data (SemEval en/ru, PolEmo, HuSST, Hebrew), seed 3, ≤600 sentences",
        "encoder": getattr(encoder, "model_id", "e5"),
    }
    path = artifacts_dir(load_config()) / "language_scale.json"
    path.write_text(json.dumps(out, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    typer.echo(f"wrote {path}: scale {scale}, default {out['default_scale']}")


if __name__ == "__main__":
    typer.run(main)
