"""The ONNX Runtime backend of the embedder (see embed.py for why).

The sentence-transformers model (a transformer, mean pooling, normalisation) is exported once
into one ONNX graph that outputs unit vectors, and cached under ``<onnx_dir>/<model>-<digest>``
where the digest covers the weights, so new weights get a new export. Workers that start
together take a file lock: one exports (about 2 s for MiniLM), the others wait and load it.

sentence-transformers' own ``backend="onnx"`` needs optimum, whose releases pin
transformers < 4.58 while the service runs transformers 5; so the export is done here with
``torch.onnx.export`` (the TorchScript exporter), which needs only torch.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import warnings
from collections.abc import Sequence
from pathlib import Path

import numpy as np

INPUTS = ("input_ids", "attention_mask", "token_type_ids")
# Names the int8 recipe (see _quantize) in the cached file's name: a new recipe, a new file.
QUANTIZATION = "int8-per-channel-ffn-out-float"


class OnnxRunner:
    backend = "onnx"

    def __init__(
        self, model_path: str, onnx_dir: str, threads: int, quantized: bool = False
    ) -> None:
        import onnxruntime as ort
        from tokenizers import Tokenizer

        root = Path(model_path)
        max_length = _check_architecture(root)
        onnx_file = _exported(root, Path(onnx_dir), quantized)
        if quantized:
            self.backend = "onnx-int8"
        self._tokenizer = Tokenizer.from_file(str(root / "tokenizer.json"))
        self._tokenizer.enable_truncation(max_length=max_length)
        self._tokenizer.no_padding()
        options = ort.SessionOptions()
        # One intra-op thread per worker: two workers on two cores already fill the machine,
        # and more threads than cores make them spin against each other.
        options.intra_op_num_threads = max(threads, 1)
        options.inter_op_num_threads = 1
        options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        self._session = ort.InferenceSession(
            str(onnx_file), options, providers=["CPUExecutionProvider"]
        )
        self._inputs = {i.name for i in self._session.get_inputs()}
        self.dimension = int(self.encode(["dimension probe"], 1).shape[1])

    def encode(self, texts: Sequence[str], batch_size: int) -> np.ndarray:
        encodings = self._tokenizer.encode_batch(list(texts))
        # Similar lengths batched together: less padding, as sentence-transformers does.
        order = np.argsort([-len(e.ids) for e in encodings], kind="stable")
        parts: list[np.ndarray] = []
        for start in range(0, len(order), max(batch_size, 1)):
            batch = [encodings[i] for i in order[start : start + batch_size]]
            width = max(len(e.ids) for e in batch)
            feed = {name: np.zeros((len(batch), width), dtype=np.int64) for name in INPUTS}
            for row, e in enumerate(batch):
                n = len(e.ids)
                feed["input_ids"][row, :n] = e.ids
                feed["attention_mask"][row, :n] = e.attention_mask
                feed["token_type_ids"][row, :n] = e.type_ids
            feed = {k: v for k, v in feed.items() if k in self._inputs}
            parts.append(self._session.run(None, feed)[0])
        out = np.zeros((len(texts), parts[0].shape[1]), dtype=np.float32)
        out[order] = np.concatenate(parts)
        return out


def _check_architecture(root: Path) -> int:
    """The model's max sequence length, if it is a mean-pooled transformer we can export."""
    modules = json.loads((root / "modules.json").read_text())
    kinds = [m["type"].rsplit(".", 1)[-1] for m in modules]
    if kinds[:2] != ["Transformer", "Pooling"] or set(kinds[2:]) - {"Normalize"}:
        raise ValueError(f"modules {kinds}: only Transformer + mean Pooling is exported")
    pooling = json.loads((root / modules[1]["path"] / "config.json").read_text())
    modes = {k for k, v in pooling.items() if k.startswith("pooling_mode") and v}
    if modes != {"pooling_mode_mean_tokens"}:
        raise ValueError(f"pooling {sorted(modes)}: only mean pooling is exported")
    if not (root / "tokenizer.json").exists():
        raise ValueError("no tokenizer.json (fast tokenizer) beside the model")
    config = json.loads((root / "sentence_bert_config.json").read_text())
    return int(config.get("max_seq_length", 256))


def _exported(root: Path, onnx_dir: Path, quantized: bool = False) -> Path:
    """The cached export of the model at root, made now if missing (under a file lock);
    with ``quantized``, its int8 copy beside it."""
    digest = hashlib.sha256()
    for name in sorted(os.listdir(root)):
        if (root / name).is_file():
            stat = (root / name).stat()
            digest.update(f"{name}:{stat.st_size}:{int(stat.st_mtime)};".encode())
    target = onnx_dir / f"{root.name}-{digest.hexdigest()[:16]}" / "model.onnx"
    target.parent.mkdir(parents=True, exist_ok=True)
    with open(target.parent / ".lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not target.exists():
            partial = target.with_suffix(f".{os.getpid()}.tmp")
            _export(root, partial)
            os.replace(partial, target)  # readers never see a half-written file
        if not quantized:
            return target
        int8 = target.with_name(f"model-{QUANTIZATION}.onnx")
        if not int8.exists():
            partial = int8.with_suffix(f".{os.getpid()}.tmp")
            _quantize(target, partial)
            os.replace(partial, int8)
    return int8


def _quantize(model: Path, out: Path) -> None:
    """Weights to int8, one scale per output channel, activations quantized on the fly; the
    feed-forward output projections stay float.

    Measured on the dev claims (docs/benchmarks.md): one scale per tensor moved vectors to a
    cosine as low as 0.92 from the float model's; per channel, 0.986; keeping the six
    feed-forward output projections (the widest inputs, 1536 wide) in float, >= 0.99 on every
    dev claim, at 1.6x the float model's speed.
    """
    import logging

    import onnx
    from onnxruntime.quantization import QuantType, quantize_dynamic

    graph = onnx.load(str(model), load_external_data=False).graph
    keep_float = [
        n.name
        for n in graph.node
        if n.op_type == "MatMul" and n.name.endswith("/output/dense/MatMul")
        and "/attention/" not in n.name
    ]  # fmt: skip
    # It logs (on the root logger) advice about static quantization, which is not used here.
    root = logging.getLogger()
    level = root.level
    root.setLevel(logging.ERROR)
    try:
        quantize_dynamic(
            str(model),
            str(out),
            weight_type=QuantType.QInt8,
            per_channel=True,
            nodes_to_exclude=keep_float,
        )
    finally:
        root.setLevel(level)


def _export(root: Path, out: Path) -> None:
    import torch
    from transformers import AutoModel, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(str(root))
    model = AutoModel.from_pretrained(str(root)).eval()

    class Pooled(torch.nn.Module):
        """Transformer, attention-masked mean pooling, L2 normalisation: what
        sentence-transformers' Transformer + Pooling(mean) + Normalize compute."""

        def __init__(self) -> None:
            super().__init__()
            self.model = model

        def forward(self, input_ids, attention_mask, token_type_ids):
            hidden = self.model(
                input_ids=input_ids, attention_mask=attention_mask, token_type_ids=token_type_ids
            ).last_hidden_state
            mask = attention_mask.unsqueeze(-1).to(hidden.dtype)
            pooled = (hidden * mask).sum(1) / mask.sum(1).clamp(min=1e-9)
            return torch.nn.functional.normalize(pooled, p=2, dim=1)

    sample = tokenizer(["an example sentence"], return_tensors="pt")
    axes = {name: {0: "batch", 1: "tokens"} for name in INPUTS}
    # The tracer warns about Python-side branches on shapes; each holds for every input the
    # service feeds (attention mask always given, no cache), and tests/test_embed.py checks
    # the exported vectors against torch's on texts of many lengths.
    with torch.no_grad(), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(
            Pooled(),
            tuple(sample[name] for name in INPUTS),
            str(out),
            input_names=list(INPUTS),
            output_names=["embedding"],
            dynamic_axes={**axes, "embedding": {0: "batch"}},
            opset_version=17,
            dynamo=False,
        )
