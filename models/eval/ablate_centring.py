"""Dev-only ablation of centring the zero-shot topic scores: `python -m models.eval.ablate_centring`.

Each variant gets its own per-topic thresholds tuned on dev (200 quantiles of its own scores), so the
comparison does not favour the variant the shipped threshold grid was designed for.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from models.topics import BUILTIN_TOPICS, TopicModel
from models.train_topics import _embed_fn_lazy, _encoder_id, load_config, load_split

MAPPED = ["price_billing", "staff_attitude", "waiting_time", "cleanliness_ambience", "food_drink"]


def dev_micro_f1(model: TopicModel, x: np.ndarray, y: np.ndarray) -> float:
    """Micro-F1 over the mapped topics with each topic's threshold tuned on these same dev rows."""
    scores = model.zero_shot_scores(x)
    tp = fp = fn = 0
    for name in MAPPED:
        s, gold = scores[:, model.names.index(name)], y[:, BUILTIN_TOPICS.index(name)]
        best = (-1.0, 0, 0, 0)
        for threshold in np.quantile(s, np.linspace(0.5, 0.999, 200)):
            pred = s >= threshold
            t, f_p, f_n = int((pred & gold).sum()), int((pred & ~gold).sum()), int((~pred & gold).sum())
            f1 = 2 * t / (2 * t + f_p + f_n) if t else 0.0
            if f1 > best[0]:
                best = (f1, t, f_p, f_n)
        tp, fp, fn = tp + best[1], fp + best[2], fn + best[3]
    return 2 * tp / (2 * tp + fp + fn)


def main(data: Path = Path("../shared/data"), runtime: str = "onnx-int8") -> None:
    """Print dev micro-F1 of the zero-shot scorer with and without centring, en and ru."""
    config = load_config()
    model = TopicModel.load(use_heads=False, embed_fn=_embed_fn_lazy(runtime), encoder_id=_encoder_id(runtime))
    for lang in ("en", "ru"):
        dev = load_split(lang, "dev", data, config, runtime)
        for center in (True, False):
            model.center = center
            print(f"{lang} {'centred' if center else 'raw'}: dev micro-F1 {dev_micro_f1(model, dev.x, dev.y):.4f}")


if __name__ == "__main__":
    main()
