"""Experiment, not used by the pipeline: per-token dynamic int8 (`python -m models.eval.per_token_int8`).

The shipped int8 graph quantises each MatMul input with one scale per tensor (`DynamicQuantizeLinear`), so a
text's vector depends on the other texts in its batch. This rewrites every `DynamicQuantizeLinear` of the
cached int8 graph into a per-token asymmetric quantisation (min/max over the hidden axis, uint8). ONNX
Runtime's `MatMulInteger(ToFloat)` takes only a scalar activation zero point, so the graph feeds zero and
subtracts ``zero_point * column_sum(W)`` after the integer product. It then compares with float32 and with
the shipped int8 graph: cosine, texts/s, and the same texts embedded in two different batchings.
Measured 2026-11-26 (demo reviews + English dev sentences, 2 threads): mean cosine to float32 0.99962
(shipped 0.99830), min 0.99935 (0.99474), identical vectors in any batching, but 0.46-0.65x the texts/s: the
extra element-wise nodes are not fused. Worth a fused kernel or custom op; see docs/encoder.md.
"""

from __future__ import annotations

import tempfile
import time
from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

from models.encoder import Encoder, onnx_session, prepare_onnx


def per_token_graph(src: Path, out: Path) -> int:
    """Write the per-token variant of an int8 graph; returns how many quantisers were replaced."""
    model = onnx.load(str(src))
    graph = model.graph
    consts = {"pt_eps": 1e-8, "pt_255": 255.0, "pt_zero": 0.0}
    graph.initializer.extend(numpy_helper.from_array(np.array(v, np.float32), k) for k, v in consts.items())
    graph.initializer.append(numpy_helper.from_array(np.array(0, np.uint8), "pt_zp0"))
    weights = {i.name: i for i in graph.initializer}
    float_zp: dict[str, str] = {}  # uint8 zero-point output -> its float version
    nodes: list[onnx.NodeProto] = []
    for node in graph.node:
        if node.op_type != "DynamicQuantizeLinear":
            nodes.append(node)
            continue
        x, (q, scale, zp), p = node.input[0], node.output, node.name + "_pt"

        def op(kind: str, inputs: list[str], suffix: str, p: str = p, **attrs: object) -> str:
            name = f"{p}_{suffix}"
            nodes.append(helper.make_node(kind, inputs, [name], name=name, **attrs))
            return name

        hi = op("Max", [op("ReduceMax", [x], "max", axes=[-1], keepdims=1), "pt_zero"], "max0")
        lo = op("Min", [op("ReduceMin", [x], "min", axes=[-1], keepdims=1), "pt_zero"], "min0")
        nodes.append(helper.make_node("Div", [op("Max", [op("Sub", [hi, lo], "rng"), "pt_eps"], "rnge"), "pt_255"],
                                      [scale], name=p + "_scale"))
        zpf = op("Round", [op("Neg", [op("Div", [lo, scale], "mins")], "negmins")], "zpf")
        nodes.append(helper.make_node("Cast", [zpf], [zp], to=TensorProto.UINT8, name=p + "_zpc"))
        shifted = op("Add", [op("Round", [op("Div", [x, scale], "div")], "round"), zpf], "shift")
        nodes.append(helper.make_node("Cast", [op("Clip", [shifted, "pt_zero", "pt_255"], "clip")], [q],
                                      to=TensorProto.UINT8, name=p + "_cast"))
        float_zp[zp] = zpf
    consumers: dict[str, list[onnx.NodeProto]] = {}
    for node in nodes:
        for name in node.input:
            consumers.setdefault(name, []).append(node)
    final: list[onnx.NodeProto] = []
    for node in nodes:
        final.append(node)
        if node.op_type != "Cast" or not consumers.get(node.input[0]):
            continue
        producer = next((n for n in nodes if node.input[0] in n.output and n.op_type == "MatMulInteger"), None)
        if producer is None or producer.input[2] not in float_zp:
            continue
        w = numpy_helper.to_array(weights[producer.input[1]]).astype(np.int32)
        w_zp = numpy_helper.to_array(weights[producer.input[3]]).astype(np.int32) if len(producer.input) > 3 else 0
        colsum = producer.name + "_colsum"
        graph.initializer.append(numpy_helper.from_array((w - w_zp).sum(axis=0).astype(np.float32), colsum))
        zpf = float_zp[producer.input[2]]
        producer.input[2] = "pt_zp0"
        corr, fixed = producer.name + "_corr", node.output[0] + "_zpcorr"
        final += [helper.make_node("Mul", [zpf, colsum], [corr], name=corr),
                  helper.make_node("Sub", [node.output[0], corr], [fixed], name=fixed)]
        for consumer in consumers.get(node.output[0], []):
            consumer.input[:] = [fixed if i == node.output[0] else i for i in consumer.input]
    del graph.node[:]
    graph.node.extend(final)
    onnx.save(model, str(out))
    return len(float_zp)


def main() -> None:
    """Build the variant and print cosine, speed and batch invariance beside the shipped int8 graph."""
    from models.eval.quant_sensitivity import sample_texts

    encoder = Encoder.load(runtime="onnx-int8", threads=2)
    texts = sample_texts(Path("../shared/data"))
    fp32 = prepare_onnx(encoder.source, True, quantized=False)
    int8 = prepare_onnx(encoder.source, True, quantized=True)

    encoder._session = onnx_session(fp32, encoder.threads)
    reference = encoder.embed(texts)
    rng = np.random.default_rng(0)
    with tempfile.TemporaryDirectory() as tmp:
        variant = Path(tmp) / "per-token.onnx"
        print("quantisers replaced:", per_token_graph(int8, variant))
        for name, path in (("shipped int8", int8), ("per-token int8", variant)):
            encoder._session = onnx_session(path, encoder.threads)
            encoder.embed(texts[:16])
            start = time.perf_counter()
            vecs = encoder.embed(texts)
            rate = len(texts) / (time.perf_counter() - start)
            other = np.zeros_like(vecs)
            order = rng.permutation(len(texts))
            for i in range(0, len(order), 7):
                idx = order[i:i + 7]
                other[idx] = encoder.embed([texts[k] for k in idx])
            cos, again = (vecs * reference).sum(1), (vecs * other).sum(1)
            print(f"{name}: {rate:.0f} texts/s, cosine to float32 mean {cos.mean():.5f} min {cos.min():.5f}, "
                  f"same texts in other batches min cosine {again.min():.6f}")


if __name__ == "__main__":
    main()
