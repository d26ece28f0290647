"""A MoViNet stream model's classifier head, cut from the model file into a model of its own.

The head is everything after the head pool's division (pooled sum / frame count): in A0 int8,
quantize -> reshape -> 1x1 conv 480->2048 -> 1x1 conv 2048->600 -> reshape -> dequantize;
fine-tuned exports add a swish, dynamic-range models run the convs in float with int8 weights.
With it the app can classify *any* pooled vector, so one inference gives a long and a short
window of the same frames (:mod:`video_classifier.model.windows`), two of them a call: the head's
2.2 MB of weights are read once a frame, not once a window (on a Pi 4, with a few GB/s of memory
bandwidth, reading them is most of the head's cost, and XNNPACK's int8 kernel for its Cortex-A72
takes two rows a pass).

The cut keeps the model's own ops, weights (int8 stays int8: 2.2 MB for A0) and quantisation,
and runs in the same runtime as the model, so its logits are the model's own bit for bit (the
wrapper checks that at load) at about 0.05-0.1 ms per pooled vector. The graph is read with the
flatbuffer schema that LiteRT ships (or TensorFlow's); no runtime internals. A head that is not
a chain of ops from the pool's division to the logits raises :class:`HeadMismatch`, and the
caller keeps the model's own head.
"""

from __future__ import annotations

import functools
import hashlib
import importlib
import zlib
from pathlib import Path
from typing import Any

import numpy as np

from utils.quiet import native_stderr_silenced
from utils.safe_files import UnsafeFile, read_regular_file, replace_file
from video_classifier.environment import user_folder


class HeadMismatch(ValueError):
    """The model's head cannot be cut into a model of its own (the reason says why)."""


def _schema():
    for name in ("ai_edge_litert.schema_py_generated", "tensorflow.lite.python.schema_py_generated"):
        try:
            return importlib.import_module(name)
        except ImportError:
            continue
    raise HeadMismatch("no TFLite flatbuffer schema to read the head with (install ai-edge-litert)")


@functools.cache
def _op_names(schema) -> dict[int, str]:
    return {v: k for k, v in vars(schema.BuiltinOperator).items() if not k.startswith("_")}


def _builtin(schema, model, op) -> str:
    code = model.OperatorCodes(op.OpcodeIndex())
    value = max(code.BuiltinCode(), code.DeprecatedBuiltinCode())
    return _op_names(schema).get(value, str(value))


BATCH = 2  # pooled vectors per call: the windows classify two a frame, four when the short one names a change


class Head:
    """The head as a model of its own: :meth:`logits` of pooled vectors ``[n, size]`` or ``[size]``."""

    def __init__(self, interpreter: Any, description: str, cached: bool = False) -> None:
        self._interpreter = interpreter
        self.cached = cached  # read from the cache of cut heads, not cut at this start
        inputs, outputs = interpreter.get_input_details(), interpreter.get_output_details()
        if len(inputs) != 1 or len(outputs) != 1:  # another model in a cache entry's place
            raise HeadMismatch(f"a head has one input and one output, not {len(inputs)} and {len(outputs)}")
        (pooled,), (logits,) = inputs, outputs
        if len(pooled["shape"]) < 2 or len(logits["shape"]) < 2:
            raise HeadMismatch(f"a head takes rows of pooled vectors, not a tensor of shape {pooled['shape']}")
        self.batch = int(pooled["shape"][0])
        self.size = int(np.prod(pooled["shape"][1:]))
        self.classes = int(np.prod(logits["shape"][1:]))
        # Accessors, not views: the interpreter refuses to invoke while a view into it exists.
        self._pooled, self._logits = interpreter.tensor(pooled["index"]), interpreter.tensor(logits["index"])
        self.description = description

    def logits(self, pooled: np.ndarray) -> np.ndarray:
        """The head's logits (float32) for each pooled vector, :attr:`batch` rows a call (each
        row's logits are what it alone would get: the head treats its rows apart)."""
        rows = np.asarray(pooled, np.float32).reshape(-1, self.size)
        out = np.empty((len(rows), self.classes), np.float32)
        for start in range(0, len(rows), self.batch):
            part = rows[start : start + self.batch]
            self._pooled().reshape(self.batch, -1)[: len(part)] = part
            self._interpreter.invoke()
            out[start : start + len(part)] = self._logits().reshape(self.batch, -1)[: len(part)]
        return out[0] if np.ndim(pooled) == 1 else out

    @classmethod
    def cut(
        cls,
        path: str | Path,
        signature_key: str,
        pool_sum: str,
        logits: str,
        interpreter_class: Any,
        batch: int = BATCH,
        refresh: bool = False,
    ) -> Head:
        """The head of the model at ``path``: the ops from the DIV of the signature output
        ``pool_sum`` (the head pool's running sum) to the output ``logits``, for ``batch`` pooled
        vectors a call, run by a new ``interpreter_class``. Raises :class:`HeadMismatch` when the
        graph has another shape. A head cut at an earlier start of the same model file is read
        from the user's cache (:func:`cache_folder`) instead of cut again: 45 ms of
        a start here; the wrapper's check against the model's own logits vouches for it as for
        a fresh one. With ``refresh`` the entry is not read but cut afresh and written over (an
        entry that failed that check)."""
        path = Path(path)
        key = (signature_key, pool_sum, logits, batch)
        found = None if refresh else _read_cached(path, key)
        if found:
            try:
                return cls(_interpreter(found[0], interpreter_class), found[1], cached=True)
            except HeadMismatch:
                pass  # a damaged entry: cut afresh, and replace it
        content, description = _cut(path.read_bytes(), *key)
        head = cls(_interpreter(content, interpreter_class), description)
        _write_cached(path, key, content, description)
        return head


def _interpreter(content: bytes, interpreter_class: Any):
    try:
        with native_stderr_silenced():  # the runtime's "Created ... delegate" line
            interpreter = interpreter_class(model_content=content, num_threads=1)
            interpreter.allocate_tensors()
    except (ValueError, RuntimeError) as exc:
        raise HeadMismatch(f"the runtime cannot run the cut head ({str(exc).strip()[:200]})") from None
    return interpreter


def cache_folder() -> Path:
    """Where cut heads are kept between starts: ``$XDG_CACHE_HOME/movinet/heads`` (or ~/.cache;
    a relative ``$XDG_CACHE_HOME`` is ignored, as the XDG spec says). Raises :class:`OSError` for
    a user with no home (no ``$HOME`` and no passwd entry): no cache then."""
    return user_folder("XDG_CACHE_HOME", ".cache") / "heads"


# Part of every entry's name: a change in how heads are cut (or kept) starts anew. 3: the .txt
# holds the head's length and CRC-32 (:func:`digest`) before its ops.
_CACHE_FORMAT = 3


def digest(content: bytes) -> str:
    """What a cache entry's sidecar vouches for its head with: its length and CRC-32. They find a
    head cut short or damaged; a head that is whole but not this model's is found by the wrapper's
    check against the model's own logits. Half of SHA-256's cost here (0.7 against 1.5 ms for
    A0's 2.2 MB), and far less on a Pi 4, whose cores have no SHA instructions (SHA-256 there:
    about 15 ms a start, estimated from its usual 150 MB/s on a Cortex-A72)."""
    return f"{len(content)}:{zlib.crc32(content):08x}"


def _cache_entry(path: Path, key: tuple) -> Path:
    """The entry for this model file as it is now (its path, size and modification time)."""
    info = path.stat()
    identity = repr((_CACHE_FORMAT, str(path.resolve()), info.st_size, info.st_mtime_ns, key))
    return cache_folder() / hashlib.sha256(identity.encode()).hexdigest()[:32]


def _read_cached(path: Path, key: tuple) -> tuple[bytes, str] | None:
    """The entry's head and description, if its head is the one written (:func:`digest`): a head cut
    short (a power cut while it was written) or damaged never reaches the runtime, which
    tflite-runtime 2.14 does not check (a truncated head is a segmentation fault there)."""
    try:
        entry = _cache_entry(path, key)
        vouched, _, description = read_regular_file(entry.with_suffix(".txt"), 4096).decode().partition("\n")
        content = read_regular_file(entry.with_suffix(".tflite"), 64 << 20)
    except (OSError, UnsafeFile, UnicodeDecodeError):
        return None
    return (content, description) if digest(content) == vouched else None


def _write_cached(path: Path, key: tuple, content: bytes, description: str) -> None:
    """Each file written whole (:func:`~utils.safe_files.replace_file`); a cache that cannot be
    written (a read-only home, a folder in an entry's place) is no error: the next start cuts
    again, and no temporary file is left behind."""
    try:
        entry = _cache_entry(path, key)
        entry.parent.mkdir(parents=True, exist_ok=True)
        sidecar = f"{digest(content)}\n{description}".encode()
        for suffix, data in ((".tflite", content), (".txt", sidecar)):  # the head first, then what vouches for it
            replace_file(entry.with_suffix(suffix), data)
        _prune(entry.parent)
    except OSError:
        pass


KEPT_ENTRIES = 8  # cut heads kept: a few models, each with its latest file; older ones go


def _prune(folder: Path) -> None:
    """Remove all but the :data:`KEPT_ENTRIES` newest entries (a model replaced or changed, or
    a new cache format, leaves its old entry behind: 2.2 MB each for A0). Only the cache's own
    names are touched."""
    entries = sorted(
        (p for p in folder.glob("*.tflite") if len(p.stem) == 32 and all(c in "0123456789abcdef" for c in p.stem)),
        key=lambda p: p.stat().st_mtime_ns,
        reverse=True,
    )
    for old in entries[KEPT_ENTRIES:]:
        for suffix in (".tflite", ".txt"):
            old.with_suffix(suffix).unlink(missing_ok=True)


def _cut(data: bytes, signature_key: str, pool_sum: str, logits: str, batch: int = 1) -> tuple[bytes, str]:
    """A .tflite of the head alone (its input ``batch`` pooled vectors, its output their logits),
    and its ops' names. Only the head's tensors, buffers and op codes are unpacked: the whole model
    through the object API takes 0.15 s."""
    schema = _schema()
    try:
        import flatbuffers
    except ImportError:
        raise HeadMismatch("no flatbuffers package to write the head with (install ai-edge-litert)") from None
    try:
        model = schema.Model.GetRootAsModel(data, 0)
    except Exception as exc:  # a corrupt flatbuffer
        raise HeadMismatch(f"cannot read the flatbuffer: {exc}") from None
    subgraph_index, outputs = None, {}
    for i in range(model.SignatureDefsLength()):
        sig = model.SignatureDefs(i)
        if sig.SignatureKey().decode() == signature_key:
            subgraph_index = sig.SubgraphIndex()
            outputs = {sig.Outputs(j).Name().decode(): sig.Outputs(j).TensorIndex() for j in range(sig.OutputsLength())}
    if subgraph_index is None or pool_sum not in outputs or logits not in outputs:
        raise HeadMismatch(f"signature {signature_key!r} has no outputs {pool_sum!r} and {logits!r}")
    subgraph = model.Subgraphs(subgraph_index)
    ops = [subgraph.Operators(i) for i in range(subgraph.OperatorsLength())]
    sum_index, logits_index = outputs[pool_sum], outputs[logits]
    divs = [
        k
        for k, op in enumerate(ops)
        if op.InputsLength() == 2 and op.Inputs(0) == sum_index and _builtin(schema, model, op) == "DIV"
    ]
    if len(divs) != 1:
        raise HeadMismatch(f"{len(divs)} DIV ops divide the head pool's sum (expected 1)")
    pooled = ops[divs[0]].Outputs(0)
    known, head_ops = {pooled}, []
    for op in ops[divs[0] + 1 :]:
        inputs = [op.Inputs(j) for j in range(op.InputsLength())]
        if not any(i in known for i in inputs):
            continue  # not part of the head
        for i in inputs:  # every other input must be a constant (weights, bias, a shape)
            if i >= 0 and i not in known and not _constant(model, subgraph.Tensors(i)):
                raise HeadMismatch(f"{_builtin(schema, model, op)} in the head reads tensor {i} from outside it")
        head_ops.append(op)
        known.update(op.Outputs(j) for j in range(op.OutputsLength()))
        if logits_index in known:
            break
    if logits_index not in known:
        raise HeadMismatch("the logits do not follow from the head pool's division")
    names = [_builtin(schema, model, op) for op in head_ops]
    content = _pack(schema, flatbuffers, data, model, subgraph, head_ops, pooled, logits_index, batch)
    return content, " -> ".join(names)


def _constant(model, tensor) -> bool:
    buffer = model.Buffers(tensor.Buffer()) if tensor.Buffer() else None
    return buffer is not None and (buffer.DataLength() > 0 or buffer.Offset() > 1)


def _pack(schema, flatbuffers, data: bytes, model, subgraph, ops: list, pooled: int, logits: int, batch: int) -> bytes:
    """The head's ops with their tensors renumbered, in a model of one subgraph, for ``batch``
    pooled vectors: every computed tensor's first dimension (1 in a stream model) and the
    RESHAPEs' target shapes become ``batch``."""
    tensors: dict[int, int] = {}  # old index -> new
    new_tensors, buffers, codes, code_of = [], [schema.BufferT()], [], {}  # buffer 0: the empty one
    new_ops = []
    for op in ops:
        new = schema.OperatorT.InitFromObj(op)
        for i in [*new.inputs, *new.outputs]:
            if i < 0 or i in tensors:
                continue
            tensor = schema.TensorT.InitFromObj(subgraph.Tensors(i))
            if not _constant(model, subgraph.Tensors(i)):
                tensor.shape = _batched(tensor.shape, batch)
                tensor.shapeSignature = None
            if tensor.buffer:
                buffer = model.Buffers(tensor.buffer)
                kept = schema.BufferT()
                if buffer.Offset() > 1:  # large models keep buffers after the flatbuffer
                    kept.data = np.frombuffer(data, np.uint8, buffer.Size(), buffer.Offset())
                elif buffer.DataLength():
                    kept.data = buffer.DataAsNumpy()
                tensor.buffer = 0
                if kept.data is not None:
                    buffers.append(kept)
                    tensor.buffer = len(buffers) - 1
            tensors[i] = len(new_tensors)
            new_tensors.append(tensor)
        if _builtin(schema, model, op) == "RESHAPE":
            _batch_reshape(new, new_tensors[tensors[new.inputs[1]]] if len(new.inputs) > 1 else None, buffers, batch)
        new.inputs = [tensors[i] if i >= 0 else -1 for i in new.inputs]
        new.outputs = [tensors[i] for i in new.outputs]
        if new.opcodeIndex not in code_of:
            code_of[new.opcodeIndex] = len(codes)
            codes.append(schema.OperatorCodeT.InitFromObj(model.OperatorCodes(new.opcodeIndex)))
        new.opcodeIndex = code_of[new.opcodeIndex]
        new_ops.append(new)
    graph = schema.SubGraphT()
    graph.tensors, graph.operators = new_tensors, new_ops
    graph.inputs, graph.outputs = [tensors[pooled]], [tensors[logits]]
    head = schema.ModelT()
    head.version, head.operatorCodes, head.subgraphs, head.buffers = model.Version(), codes, [graph], buffers
    builder = flatbuffers.Builder(1 << 16)
    builder.Finish(head.Pack(builder), file_identifier=b"TFL3")
    return bytes(builder.Output())


def _batched(shape, batch: int):
    """A computed tensor's shape for ``batch`` rows (its first dimension is the stream's 1, or
    already ``batch``: a shape two RESHAPEs share)."""
    if shape is None or len(shape) == 0 or int(shape[0]) not in (1, batch):
        raise HeadMismatch(f"a tensor of shape {shape} in the head does not start with a batch of 1")
    shape = np.array(shape, np.int32)
    shape[0] = batch
    return shape


def _batch_reshape(op, shape_tensor, buffers: list, batch: int) -> None:
    """A RESHAPE to ``batch`` rows: its target shape, in its options and in its shape input."""
    options = op.builtinOptions
    if options is not None and getattr(options, "newShape", None) is not None and len(options.newShape):
        options.newShape = _batched(options.newShape, batch)
    if shape_tensor is not None and shape_tensor.buffer:
        buffer = buffers[shape_tensor.buffer]
        buffer.data = _batched(np.frombuffer(bytes(buffer.data), np.int32), batch).view(np.uint8)
