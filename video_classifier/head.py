"""A copy of a MoViNet stream model's classifier head in numpy, read from the model file itself.

The head is everything after the head pool's division (pooled sum / frame count): in A0 int8,
quantize -> 1x1 conv 480->2048 -> 1x1 conv 2048->600 -> dequantize; fine-tuned exports add a
swish (logistic and multiply), dynamic-range models run the convs in float with int8 weights.
With it the app can classify *any* pooled vector, so one inference gives a long and a short
window of the same frames (:mod:`video_classifier.movinet`).

The graph, its constant tensors and their quantisation parameters are read from the .tflite
flatbuffer with the schema that LiteRT ships (or TensorFlow's); no runtime internals. A model
whose head has another shape raises :class:`HeadMismatch`, and the caller keeps the model's own
head. Integer arithmetic follows one of two conventions, XNNPACK's (float requantisation,
round to nearest even) or the TFLite reference kernels' (fixed-point multipliers); which one the
interpreter at hand uses is settled by a parity check against the model's own logits.
LiteRT (XNNPACK) matches bit for bit on every model we have; tflite-runtime 2.14 runs A0's last
convolution through yet another kernel, and the copy is one int8 step off on about 0.03% of the
logits there (5 of 15,000 on 25 real frames).
"""

from __future__ import annotations

import functools
import importlib
from collections.abc import Callable
from pathlib import Path

import numpy as np

CONVENTIONS = ("xnnpack", "reference")


class HeadMismatch(ValueError):
    """The model's head is not one this module can copy (the reason says why)."""


def _schema():
    for name in ("ai_edge_litert.schema_py_generated", "tensorflow.lite.python.schema_py_generated"):
        try:
            return importlib.import_module(name)
        except ImportError:
            continue
    raise HeadMismatch("no TFLite flatbuffer schema to read the head with (install ai-edge-litert)")


class _Tensor:
    def __init__(self, schema, model, subgraph, index: int, data: bytes) -> None:
        t = subgraph.Tensors(index)
        self.index = index
        self.shape = tuple(int(d) for d in t.ShapeAsNumpy()) if t.ShapeLength() else ()
        self.type = t.Type()
        self.dtype = {
            schema.TensorType.FLOAT32: np.float32,
            schema.TensorType.INT8: np.int8,
            schema.TensorType.INT32: np.int32,
            schema.TensorType.UINT8: np.uint8,
        }.get(self.type)
        q = t.Quantization()
        self.scales = q.ScaleAsNumpy().astype(np.float32) if q is not None and q.ScaleLength() else None
        self.zero_points = q.ZeroPointAsNumpy().astype(np.int64) if q is not None and q.ZeroPointLength() else None
        self.axis = q.QuantizedDimension() if q is not None else 0
        buffer = model.Buffers(t.Buffer()) if t.Buffer() else None
        self.constant = None
        if buffer is not None and self.dtype is not None:
            raw = None
            if buffer.DataLength():
                raw = buffer.DataAsNumpy().tobytes()
            elif buffer.Offset() > 1:  # large models keep buffers after the flatbuffer
                raw = data[buffer.Offset() : buffer.Offset() + buffer.Size()]
            if raw:
                self.constant = np.frombuffer(raw, self.dtype).reshape(self.shape)

    @property
    def scale(self) -> float:
        return float(self.scales[0]) if self.scales is not None else 0.0

    @property
    def zero_point(self) -> int:
        return int(self.zero_points[0]) if self.zero_points is not None else 0

    @property
    def quantized(self) -> bool:
        return self.scales is not None and self.dtype in (np.int8, np.uint8)

    @property
    def channels(self) -> int:
        """Values per batch row: every dimension but the last must be 1 (a pooled vector)."""
        if not self.shape or int(np.prod(self.shape[:-1])) != 1:
            raise HeadMismatch(f"tensor {self.index} of shape {self.shape} is not a pooled vector")
        return self.shape[-1]


# --- integer arithmetic, in both conventions -------------------------------------------------


def _quantize_multiplier(real: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """TFLite's QuantizeMultiplier: real = q * 2**(shift - 31), q in [2**30, 2**31)."""
    mantissa, shift = np.frexp(real.astype(np.float64))
    q = np.round(mantissa * (1 << 31)).astype(np.int64)
    overflow = q == (1 << 31)
    q[overflow] //= 2
    shift = shift + overflow
    q[real == 0], shift[real == 0] = 0, 0
    return q, shift.astype(np.int64)


def _multiply_by_quantized_multiplier(x: np.ndarray, q: np.ndarray, shift: np.ndarray) -> np.ndarray:
    """gemmlowp's SaturatingRoundingDoublingHighMul then RoundingDivideByPOT, on int64."""
    left = np.maximum(shift, 0)
    right = np.maximum(-shift, 0)
    a = x.astype(np.int64) * (np.int64(1) << left)
    ab = a * q
    nudge = np.where(ab >= 0, 1 << 30, 1 - (1 << 30))
    high = (ab + nudge) // (1 << 31)  # C's truncating division, emulated below for negatives
    high = np.where((ab + nudge) < 0, -((-(ab + nudge)) // (1 << 31)), high)
    mask = (np.int64(1) << right) - 1
    remainder = high & mask
    threshold = (mask >> 1) + (high < 0)
    return (high >> right) + (remainder > threshold)


def _requantize(acc: np.ndarray, real_scale: np.ndarray, zero_point: int, lo: int, hi: int, convention: str):
    """int32 accumulator -> int8 output with per-channel (or per-tensor) scale."""
    if convention == "xnnpack":
        scaled = acc.astype(np.float32, copy=False) * real_scale.astype(np.float32, copy=False)
        np.clip(scaled, np.float32(lo - zero_point), np.float32(hi - zero_point), out=scaled)
        return np.rint(scaled, out=scaled) + np.float32(zero_point)
    q, shift = _quantize_multiplier(real_scale)
    scaled = _multiply_by_quantized_multiplier(acc.astype(np.int64), q, shift)
    return np.clip(scaled + zero_point, lo, hi).astype(np.float32)


def _product(x: np.ndarray, w: np.ndarray) -> np.ndarray:
    """x @ w; a few rows one by one (BLAS's matrix-vector product: a 2-row matrix product costs
    three times one row's on a 2-core machine)."""
    if x.shape[0] <= 4:
        return np.stack([row @ w for row in x])
    return x @ w


def _round_half_away(y: np.ndarray) -> np.ndarray:
    """C's round(): to nearest, ties away from zero (exact: no float addition of 0.5)."""
    whole = np.trunc(y)
    return whole + np.sign(y) * (np.abs(y - whole) >= 0.5)


def _activation_range(schema, activation: int, out: _Tensor) -> tuple[float, float]:
    act = schema.ActivationFunctionType
    bounds = {act.NONE: (-np.inf, np.inf), act.RELU: (0.0, np.inf), act.RELU6: (0.0, 6.0), act.RELU_N1_TO_1: (-1.0, 1.0)}
    if activation not in bounds:
        raise HeadMismatch(f"fused activation {activation} is not supported")
    return bounds[activation]


def _int_range(schema, activation: int, out: _Tensor) -> tuple[int, int]:
    lo, hi = _activation_range(schema, activation, out)
    info = np.iinfo(out.dtype)
    qlo = info.min if lo == -np.inf else max(info.min, out.zero_point + int(round(lo / out.scale)))
    qhi = info.max if hi == np.inf else min(info.max, out.zero_point + int(round(hi / out.scale)))
    return qlo, qhi


# --- the ops ------------------------------------------------------------------------------------

Step = Callable[[dict, str], None]


@functools.cache
def _op_names(schema) -> dict[int, str]:
    return {v: k for k, v in vars(schema.BuiltinOperator).items() if not k.startswith("_")}


def _builtin(schema, model, op) -> str:
    code = model.OperatorCodes(op.OpcodeIndex())
    value = max(code.BuiltinCode(), code.DeprecatedBuiltinCode())
    return _op_names(schema).get(value, str(value))


def _options(schema, op, cls_name: str):
    table = op.BuiltinOptions()
    if table is None:
        return None
    options = getattr(schema, cls_name)()
    options.Init(table.Bytes, table.Pos)
    return options


class HeadCopy:
    """The model's head as numpy steps: :meth:`logits` of pooled vectors ``[n, size]`` or ``[size]``."""

    def __init__(self, size: int, classes: int, steps: list, pooled: int, logits: int, description: str) -> None:
        self.size, self.classes = size, classes
        self._steps, self._pooled, self._logits = steps, pooled, logits
        self.description = description
        self.convention = CONVENTIONS[0]
        # Integer logits (dequantized at the end) must match the model's exactly; float ones
        # within float rounding.
        self.exact = description.endswith("DEQUANTIZE")

    def logits(self, pooled: np.ndarray) -> np.ndarray:
        batch = np.asarray(pooled, np.float32)
        single = batch.ndim == 1
        values = {self._pooled: batch.reshape(-1, self.size)}
        for step in self._steps:
            step(values, self.convention)
        out = values[self._logits].astype(np.float32, copy=False)
        return out[0] if single else out

    @classmethod
    def read(cls, path: str | Path, signature_key: str, pool_sum: str, logits: str) -> HeadCopy:
        """The head of the model at ``path``: the ops from the DIV of the signature output
        ``pool_sum`` (the head pool's running sum) to the output ``logits``. Raises
        :class:`HeadMismatch` when the graph has another shape."""
        schema = _schema()
        data = Path(path).read_bytes()
        try:
            model = schema.Model.GetRootAsModel(data, 0)
        except Exception as exc:  # a corrupt flatbuffer
            raise HeadMismatch(f"cannot read the flatbuffer: {exc}") from None
        subgraph_index, outputs = 0, {}
        for i in range(model.SignatureDefsLength()):
            sig = model.SignatureDefs(i)
            if sig.SignatureKey().decode() == signature_key:
                subgraph_index = sig.SubgraphIndex()
                outputs = {sig.Outputs(j).Name().decode(): sig.Outputs(j).TensorIndex() for j in range(sig.OutputsLength())}
        if pool_sum not in outputs or logits not in outputs:
            raise HeadMismatch(f"signature {signature_key!r} has no outputs {pool_sum!r} and {logits!r}")
        subgraph = model.Subgraphs(subgraph_index)
        tensors: dict[int, _Tensor] = {}

        def tensor(index: int) -> _Tensor:
            if index not in tensors:
                tensors[index] = _Tensor(schema, model, subgraph, index, data)
            return tensors[index]

        ops = [subgraph.Operators(i) for i in range(subgraph.OperatorsLength())]
        sum_index, logits_index = outputs[pool_sum], outputs[logits]
        divs = [
            (k, op)
            for k, op in enumerate(ops)
            if op.InputsLength() == 2 and op.Inputs(0) == sum_index and _builtin(schema, model, op) == "DIV"
        ]
        if len(divs) != 1:
            raise HeadMismatch(f"{len(divs)} DIV ops divide the head pool's sum (expected 1)")
        start, div = divs[0]
        pooled = div.Outputs(0)
        size = tensor(pooled).channels
        known = {pooled}
        steps, names = [], []
        for op in ops[start + 1 :]:
            inputs = [op.Inputs(j) for j in range(op.InputsLength())]
            if not any(i in known for i in inputs):
                continue  # not part of the head
            name = _builtin(schema, model, op)
            ins = [tensor(i) if i >= 0 else None for i in inputs]
            out = tensor(op.Outputs(0))
            steps.append(_make_step(schema, op, name, ins, out, known))
            names.append(name)
            known.add(out.index)
            if out.index == logits_index:
                break
        if logits_index not in known:
            raise HeadMismatch("the logits do not follow from the head pool's division")
        classes = tensor(logits_index).channels
        return cls(size, classes, steps, pooled, logits_index, " -> ".join(names))


def _make_step(schema, op, name: str, ins: list, out: _Tensor, known: set) -> Step:
    src = ins[0]
    o, i0 = out.index, src.index
    if name == "RESHAPE" or name == "SQUEEZE":
        if src.channels != out.channels:  # both are pooled vectors: nothing to do in [n, c]
            raise HeadMismatch(f"{name} changes the pooled vector's length")

        def reshape(v, _):
            v[o] = v[i0]

        return reshape
    if name == "QUANTIZE":
        if src.dtype != np.float32 or not out.quantized:
            raise HeadMismatch("QUANTIZE other than float -> int8")
        scale, zp, info = np.float32(out.scale), out.zero_point, np.iinfo(out.dtype)
        inverse = np.float32(1.0) / scale

        def quantize(v, convention):
            x = v[i0]
            # XNNPACK rounds x / scale to nearest even; the reference kernels, half away from zero.
            q = np.rint(x * inverse) if convention == "xnnpack" else _round_half_away(x / scale)
            v[o] = np.clip(q + np.float32(zp), info.min, info.max).astype(np.float32)

        return quantize
    if name == "DEQUANTIZE":
        if not src.quantized or out.dtype != np.float32:
            raise HeadMismatch("DEQUANTIZE other than int8 -> float")
        scale, zp = np.float32(src.scale), src.zero_point

        def dequantize(v, _):
            v[o] = (v[i0] - np.float32(zp)) * scale

        return dequantize
    if name in ("CONV_2D", "FULLY_CONNECTED"):
        return _dense(schema, op, name, ins, out)
    if name == "LOGISTIC":
        return _elementwise(src, out, lambda x: np.float32(1) / (np.float32(1) + np.exp(-x)))
    if name == "HARD_SWISH":
        return _elementwise(src, out, lambda x: x * np.clip(x + np.float32(3), 0, 6) / np.float32(6))
    if name == "MUL":
        return _mul(schema, op, ins, out)
    raise HeadMismatch(f"op {name} in the head is not supported")


def _elementwise(src: _Tensor, out: _Tensor, f) -> Step:
    i0, o = src.index, out.index
    if src.dtype == np.float32 and out.dtype == np.float32:

        def float_op(v, _):
            v[o] = f(v[i0]).astype(np.float32)

        return float_op
    if not (src.quantized and out.quantized):
        raise HeadMismatch("an elementwise op mixes float and integers")
    # Integer kernels use a 256-entry table of the float function (both conventions).
    info = np.iinfo(src.dtype)
    q = np.arange(info.min, info.max + 1, dtype=np.int64)
    x = (np.float32(src.scale) * (q - src.zero_point).astype(np.float32)).astype(np.float32)
    y = f(x).astype(np.float32)
    table = np.clip(np.round(y / np.float32(out.scale)) + out.zero_point, info.min, info.max).astype(np.float32)

    def lookup(v, _):
        v[o] = table[(v[i0] - info.min).astype(np.intp)]

    return lookup


def _mul(schema, op, ins: list, out: _Tensor) -> Step:
    a, b = ins
    if a.constant is not None or b.constant is not None:
        raise HeadMismatch("MUL by a constant in the head is not supported")
    options = _options(schema, op, "MulOptions")
    activation = options.FusedActivationFunction() if options is not None else 0
    ia, ib, o = a.index, b.index, out.index
    if out.dtype == np.float32:
        lo, hi = _activation_range(schema, activation, out)

        def float_mul(v, _):
            v[o] = np.clip(v[ia] * v[ib], lo, hi).astype(np.float32)

        return float_mul
    qlo, qhi = _int_range(schema, activation, out)
    real = np.array([a.scale * b.scale / out.scale])
    real32 = np.float32(a.scale) * np.float32(b.scale) / np.float32(out.scale)

    def int_mul(v, convention):
        product = (v[ia].astype(np.float64) - a.zero_point) * (v[ib].astype(np.float64) - b.zero_point)
        scale = np.array([real32]) if convention == "xnnpack" else real
        v[o] = _requantize(product, scale, out.zero_point, qlo, qhi, convention)

    return int_mul


def _dense(schema, op, name: str, ins: list, out: _Tensor) -> Step:
    """A 1x1 convolution (or fully connected layer) of a pooled vector: a matrix product."""
    src, weights, bias = (ins + [None])[:3]
    if weights is None or weights.constant is None:
        raise HeadMismatch(f"{name} without constant weights")
    w = weights.constant
    if name == "CONV_2D":
        options = _options(schema, op, "Conv2DOptions")
        if w.ndim != 4 or w.shape[1:3] != (1, 1):
            raise HeadMismatch(f"CONV_2D with a {w.shape} kernel is not 1x1")
    else:
        options = _options(schema, op, "FullyConnectedOptions")
    activation = options.FusedActivationFunction() if options is not None else 0
    w = w.reshape(w.shape[0], -1)  # [out, in]
    if w.shape[1] != src.channels or w.shape[0] != out.channels:
        raise HeadMismatch(f"{name} weights {w.shape} do not fit {src.channels} -> {out.channels}")
    b = bias.constant if bias is not None and bias.constant is not None else None
    i0, o = src.index, out.index
    w_scales = weights.scales if weights.scales is not None else np.ones(1, np.float32)
    if src.quantized and out.quantized and weights.quantized:  # full integer
        # The int32 accumulator as an exact float matrix product (BLAS, not numpy's integer loop):
        # the inputs are cut into chunks short enough that no float32 partial sum can pass 2**24,
        # and the chunks' sums are added in float64.
        info = np.iinfo(src.dtype)
        x_max = max(abs(info.min - src.zero_point), abs(info.max - src.zero_point))
        w_max = max(1, int(np.abs(w.astype(np.int64)).max()))
        b64 = b.astype(np.float64) if b is not None else np.zeros(w.shape[0])
        chunk = max(1, min(w.shape[1], (2**24 - 1) // (x_max * w_max)))
        chunks = -(-w.shape[1] // chunk)
        padded = np.zeros((chunks * chunk, w.shape[0]), np.float32)
        padded[: w.shape[1]] = w.T
        wt = padded.reshape(chunks, chunk, w.shape[0])  # [chunks, in/chunks, out]
        qlo, qhi = _int_range(schema, activation, out)
        real = np.float64(src.scale) * w_scales.astype(np.float64) / np.float64(out.scale)
        real32 = (np.float32(src.scale) * w_scales.astype(np.float32)) / np.float32(out.scale)

        def int_dense(v, convention):
            x = v[i0] - np.float32(src.zero_point)
            acc = b64 + _product(x[:, :chunk], wt[0]).astype(np.float64)
            for k in range(1, chunks):  # one BLAS product per chunk (a stacked matmul is not BLAS)
                part = x[:, k * chunk : (k + 1) * chunk]
                acc += _product(part, wt[k][: part.shape[1]])
            v[o] = _requantize(acc, real32 if convention == "xnnpack" else real, out.zero_point, qlo, qhi, convention)

        return int_dense
    if src.dtype == np.float32 and out.dtype == np.float32 and w.dtype == np.float32:  # float
        wt = w.T.copy()
        b32 = b.astype(np.float32) if b is not None else np.float32(0)
        lo, hi = _activation_range(schema, activation, out)

        def float_dense(v, _):
            v[o] = np.clip(v[i0] @ wt + b32, lo, hi).astype(np.float32)

        return float_dense
    if src.dtype == np.float32 and out.dtype == np.float32 and weights.quantized:  # dynamic range
        # The runtime quantizes the input on the fly: XNNPACK per row and asymmetric (qd8), the
        # reference kernels per row and symmetric; then an integer product, scaled back to float.
        wt = w.astype(np.float64).T.copy()
        column_sums = wt.sum(axis=0)
        w_scale = w_scales.astype(np.float64)
        b64 = b.astype(np.float64) if b is not None else 0.0
        lo, hi = _activation_range(schema, activation, out)

        def dynamic_dense(v, convention):
            x = v[i0].astype(np.float64)
            if convention == "xnnpack":
                low = np.minimum(x.min(axis=1, keepdims=True), 0.0)
                high = np.maximum(x.max(axis=1, keepdims=True), 0.0)
                scale = np.where(high > low, (high - low) / 255.0, 1.0)
                zp = np.round(-128.0 - low / scale)
                q = np.clip(np.round(x / scale) + zp, -128, 127)
                acc = q @ wt - zp * column_sums
            else:
                scale = np.abs(x).max(axis=1, keepdims=True) / 127.0
                scale = np.where(scale > 0, scale, 1.0)
                acc = np.round(x / scale) @ wt
            v[o] = np.clip(acc * scale * w_scale + b64, lo, hi).astype(np.float32)

        return dynamic_dense
    raise HeadMismatch(f"{name} mixes float and integer tensors")
