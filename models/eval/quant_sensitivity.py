"""Which MatMuls of the encoder lose most under dynamic int8: `python -m models.eval.quant_sensitivity`.

For each transformer layer, quantise the whole graph except that layer's FFN output projection and compare
the embeddings of held-out-free texts (the demo site's reviews and English *dev* sentences, never test) with
the float32 graph's. The layer whose exclusion lifts the cosine most is the one `models.encoder.FLOAT_NODES`
keeps in float32. Slow-ish: one quantisation per layer (about 10 s each on 2 cores).
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Annotated

import numpy as np
import typer

from models.encoder import Encoder, onnx_session, prepare_onnx, quantize_onnx

FFN_OUT = "/inner/encoder/layer.{i}/output/dense/MatMul"

app = typer.Typer(add_completion=False)


def sample_texts(data: Path, n: int = 150) -> list[str]:
    """Demo-site reviews plus English dev sentences (never a test split)."""
    from models.datasets import load_sentiment
    from reviewdesk.demo_site import review_bodies

    texts = list(dict.fromkeys(review_bodies()))[:n]
    return texts + [r.text for r in load_sentiment("en", "dev", data)][:n]


def cosines(encoder: Encoder, path: Path, texts: list[str], reference: np.ndarray) -> tuple[float, float]:
    """Mean and minimum cosine of a graph's embeddings to the reference vectors."""
    encoder._session = onnx_session(path, encoder.threads)
    cos = (encoder.embed(texts) * reference).sum(axis=1)
    return float(cos.mean()), float(cos.min())


@app.command()
def main(data: Annotated[Path, typer.Option(help="Labelled data directory.")] = Path("../shared/data")) -> None:
    """Print mean / min cosine to float32 for the plain int8 graph and with each layer's FFN output kept float."""
    encoder = Encoder.load(runtime="onnx", threads=2)
    fp32 = prepare_onnx(encoder.source, True, quantized=False)
    texts = sample_texts(data)
    reference = encoder.embed(texts)
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "q.onnx"
        quantize_onnx(fp32, out, keep_float=())
        mean, low = cosines(encoder, out, texts, reference)
        print(f"all int8: mean {mean:.5f} min {low:.5f}", flush=True)
        for i in range(12):
            quantize_onnx(fp32, out, keep_float=(FFN_OUT.format(i=i),))
            mean, low = cosines(encoder, out, texts, reference)
            print(f"layer {i:2d} FFN output float: mean {mean:.5f} min {low:.5f}", flush=True)


if __name__ == "__main__":
    app()
