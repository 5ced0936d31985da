"""ONNX export and import of fastmlp MLPs (extra ``onnx``; ``onnx`` is imported lazily).

``to_onnx(model, path, opset=17)`` writes one node chain with a dynamic batch dimension:
``Flatten`` (inputs of rank > 2), ``Mul`` / ``Add`` (``Rescaling``), ``Gemm`` (or
``MatMul`` + ``Add`` with ``use_gemm=False``; ``MatMul`` alone without a bias), ``Relu``,
``LeakyRelu``, ``Sigmoid``, ``Tanh`` and ``Softmax`` (axis 1). Weights are initializers in
fastmlp's ``[in, out]`` layout, so ``Gemm`` has ``transB=0``. Quantized Dense layers export
as QuantizeLinear / DequantizeLinear around a MatMul (``_onnx_quantized``).

``from_onnx(path_or_model)`` reads such a chain back (also ``Gemm`` with ``transB=1`` or
``alpha``/``beta``, ``Reshape`` to ``[N, -1]``, ``Identity``, ``Dropout`` (the identity at
inference), ``Constant`` weights) and
refuses any other graph with a ``ValueError`` that names the source (path, ``<bytes>`` or
``<ModelProto>``) and says what it cannot convert: unsupported ops, branches, cycles, more
than ``_MAX_NODES`` (10,000) nodes, NaN/inf or negative-dimension weights, a ``Reshape``
that is not a flatten, a corrupt file or unreadable external data.
"""
from __future__ import annotations

import os

import numpy as np

from . import _onnx_quantized as _quantized

__all__ = ["to_onnx", "from_onnx", "SUPPORTED_OPS"]

SUPPORTED_OPS = ("Gemm", "MatMul", "Add", "Sub", "Mul", "Div", "Relu", "LeakyRelu", "Sigmoid",
                 "Tanh", "Softmax", "Flatten", "Reshape", "Identity", "Dropout", "Constant")
_ACT_OPS = {"relu": "Relu", "leaky_relu": "LeakyRelu", "sigmoid": "Sigmoid", "tanh": "Tanh",
            "selu": "Selu", "softplus": "Softplus"}
_MIN_OPSET = 9


def _import_onnx():
    try:
        import onnx
        from onnx import helper, numpy_helper
    except ImportError as e:  # pragma: no cover - exercised only without onnx
        raise ImportError("fastmlp's ONNX converters need the 'onnx' package: "
                          "pip install 'fastmlp[onnx]'") from e
    return onnx, helper, numpy_helper


# --------------------------------------------------------------------------- export
def to_onnx(model, path=None, opset=17, use_gemm=True, input_name="input",
            output_name="output"):
    """Export a built :class:`fastmlp.Sequential` to ONNX; returns the ``ModelProto``.

    Writes it to ``path`` when given. The input is float32 ``[batch, *input_shape]`` with a
    symbolic ``batch`` dimension; the output is float32 ``[batch, outputs]`` and equals
    ``model.predict`` (a final softmax included).
    """
    onnx, helper, numpy_helper = _import_onnx()
    from .._engine_plan import layer_specs

    if isinstance(opset, bool) or not isinstance(opset, int):
        raise TypeError(f"opset: expected an int, got {opset!r}")
    max_opset = onnx.defs.onnx_opset_version()
    if not _MIN_OPSET <= opset <= max_opset:
        raise ValueError(f"opset: expected {_MIN_OPSET}..{max_opset} (this onnx), got {opset}")
    if model.input_shape is None:
        raise ValueError("to_onnx: the model is not built (its input shape is unknown); pass "
                         "input_shape= to Sequential(...) or fit it first")
    model.build()
    layers = model.layers
    nodes, inits = [], []
    counter = [0]

    def fresh(base):
        counter[0] += 1
        return f"{base}_{counter[0]}"

    def const(name, arr, dtype=np.float32):
        inits.append(numpy_helper.from_array(np.ascontiguousarray(arr, dtype=dtype),
                                             name=fresh(name)))
        return inits[-1].name

    def node(op, inputs, base, **attrs):
        out = fresh(base)
        nodes.append(helper.make_node(op, inputs, [out], name=out, **attrs))
        return out

    cur = input_name
    rank = 1 + len(model.input_shape)

    def act(name, alpha):
        nonlocal cur
        if name == "linear":
            return
        x = cur
        if name == "leaky_relu":
            cur = node("LeakyRelu", [x], "leaky_relu", alpha=float(alpha))
        elif name == "elu":
            cur = node("Elu", [x], "elu", alpha=float(alpha))
        elif name == "hard_sigmoid":  # Keras 3: relu6(x + 3) / 6
            cur = node("HardSigmoid", [x], "hard_sigmoid", alpha=1.0 / 6.0, beta=0.5)
        elif name == "silu":
            cur = node("Mul", [x, node("Sigmoid", [x], "silu_sigmoid")], "silu")
        elif name == "mish":
            t = node("Tanh", [node("Softplus", [x], "mish_softplus")], "mish_tanh")
            cur = node("Mul", [x, t], "mish")
        elif name == "gelu":  # x * (1 + erf(x / sqrt(2))) / 2
            e = node("Erf", [node("Mul", [x, const("inv_sqrt2", np.float32(0.5 ** 0.5))],
                                  "gelu_scale")], "gelu_erf")
            h = node("Mul", [node("Add", [e, const("one", np.float32(1.0))], "gelu_add"),
                             const("half", np.float32(0.5))], "gelu_half")
            cur = node("Mul", [x, h], "gelu")
        elif name == "gelu_tanh":  # x * (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3))) / 2
            x3 = node("Mul", [node("Mul", [x, x], "gelu_sq"), x], "gelu_cube")
            inner = node("Add", [x, node("Mul", [x3, const("c", np.float32(0.044715))],
                                         "gelu_c")], "gelu_inner")
            t = node("Tanh", [node("Mul", [inner, const("k", np.float32((2 / np.pi) ** 0.5))],
                                   "gelu_k")], "gelu_tanh")
            h = node("Mul", [node("Add", [t, const("one", np.float32(1.0))], "gelu_add"),
                             const("half", np.float32(0.5))], "gelu_half")
            cur = node("Mul", [x, h], "gelu")
        else:
            cur = node(_ACT_OPS[name], [x], name)

    # The engine specs, kind by kind: a Dense's fused LeakyReLU has the engine's slope
    # 0.01; Dropout is the identity at inference and exports as nothing.
    for spec, layer, _ in layer_specs(layers, model.input_shape):
        if rank > 2 and spec.kind in ("dense", "dense_int8", "dense_bf16"):
            cur = node("Flatten", [cur], "flatten", axis=1)  # Dense needs flat rows
            rank = 2
        if spec.kind == "rescaling":
            if spec.scale != 1.0:
                cur = node("Mul", [cur, const("scale", np.float32(spec.scale))], "rescale_mul")
            if spec.offset != 0.0:
                cur = node("Add", [cur, const("offset", np.float32(spec.offset))],
                           "rescale_add")
        elif spec.kind in ("dense", "dense_bf16"):
            kernel = layer.kernel
            if spec.kind == "dense_bf16":  # bf16 operands (mixed_bfloat16: round the kernel)
                cur = _quantized.round_bf16(node, cur)
                from ..ops import round_bfloat16
                kernel = round_bfloat16(np.asarray(kernel, np.float32))
            w = const(f"{layer.name}_kernel", kernel)
            if spec.use_bias and use_gemm:
                cur = node("Gemm", [cur, w, const(f"{layer.name}_bias", layer.bias)], "gemm")
            else:
                cur = node("MatMul", [cur, w], "matmul")
                if spec.use_bias:
                    cur = node("Add", [cur, const(f"{layer.name}_bias", layer.bias)], "bias_add")
            act(spec.act, spec.alpha)
        elif spec.kind == "dense_int8":
            cur = _quantized.dense_int8(node, const, cur, spec, layer, opset)
            act(spec.act, spec.alpha)
        elif spec.kind == "activation":
            act(spec.act, spec.alpha)
        elif spec.kind == "softmax":
            cur = node("Softmax", [cur], "softmax", axis=1)
        elif spec.kind in ("batch_norm", "layer_norm"):
            n = spec.outputs
            g = layer.gamma if spec.use_gamma else np.ones(n, np.float32)
            b = layer.beta if spec.center else np.zeros(n, np.float32)
            ins = [cur, const(f"{layer.name}_gamma", g), const(f"{layer.name}_beta", b)]
            if spec.kind == "batch_norm":  # inference mode: the moving statistics
                ins += [const(f"{layer.name}_moving_mean", layer.moving_mean),
                        const(f"{layer.name}_moving_variance", layer.moving_variance)]
                cur = node("BatchNormalization", ins, "batch_norm",
                           epsilon=float(spec.epsilon))
            else:
                if opset < 17:
                    raise ValueError(f"to_onnx: LayerNormalization needs opset >= 17, got "
                                     f"{opset}")
                cur = node("LayerNormalization", ins, "layer_norm", axis=-1,
                           epsilon=float(spec.epsilon))
        elif spec.kind not in ("dropout", "gaussian_noise"):  # (nothing at inference)
            raise ValueError(f"to_onnx: layer {layer.name!r} of type {type(layer).__name__} "
                             "has no ONNX export")
    if cur == input_name:
        cur = node("Identity", [cur], "identity")
    nodes[-1].output[0] = output_name
    nodes[-1].name = output_name
    out_dim = int(model.output_shape[0])
    graph = helper.make_graph(
        nodes, model.name or "fastmlp",
        [helper.make_tensor_value_info(input_name, onnx.TensorProto.FLOAT,
                                       ["batch", *model.input_shape])],
        [helper.make_tensor_value_info(output_name, onnx.TensorProto.FLOAT,
                                       ["batch", out_dim])],
        initializer=inits)
    opsets = [helper.make_opsetid("", opset)]
    proto = helper.make_model(graph, opset_imports=opsets, producer_name="fastmlp",
                              ir_version=helper.find_min_ir_version_for(opsets))
    onnx.checker.check_model(proto)
    if path is not None:
        onnx.save_model(proto, os.fspath(path))
    return proto


# --------------------------------------------------------------------------- import
# More nodes than any MLP fastmlp can hold (a layer is at most a few nodes); refused before
# any walk, so a hostile graph cannot make from_onnx spend unbounded time.
_MAX_NODES = 10_000
# (min, max) inputs per op, the data input and its constants together
_ARITY = {"Gemm": (2, 3), "MatMul": (2, 2), "Add": (2, 2), "Sub": (2, 2), "Mul": (2, 2),
          "Div": (2, 2), "Reshape": (2, 2), "Dropout": (1, 3)}


def _source_name(src):
    """How from_onnx messages name ``src``: the path, ``<bytes>`` or ``<ModelProto>``."""
    if isinstance(src, (str, os.PathLike)):
        p = os.fspath(src)
        return p.decode(errors="replace") if isinstance(p, bytes) else p
    if isinstance(src, (bytes, bytearray)):
        return "<bytes>"
    if type(src).__name__ == "ModelProto":
        return "<ModelProto>"
    return f"<{type(src).__name__}>"


def _load(src, onnx, err):
    if isinstance(src, onnx.ModelProto):
        proto = src
    elif isinstance(src, (bytes, bytearray)):
        try:
            proto = onnx.load_model_from_string(bytes(src))
        except Exception as e:  # protobuf's DecodeError and the like
            raise err(f"the bytes are not an ONNX model ({type(e).__name__}: {e}); pass the "
                      "content of an .onnx file") from e
    elif isinstance(src, (str, os.PathLike)):
        path = os.fspath(src)
        try:
            # external data is loaded below, so that its errors are told apart
            proto = onnx.load_model(path, load_external_data=False)
        except OSError:
            raise  # the model file itself is missing or unreadable: keep the OS error
        except Exception as e:  # a truncated or corrupt file: protobuf's DecodeError
            raise err(f"the file is not a valid ONNX model ({type(e).__name__}: {e}); is it "
                      "truncated or not an .onnx file? Re-export it") from e
        try:
            from onnx.external_data_helper import load_external_data_for_model
            load_external_data_for_model(proto, os.path.dirname(path))
        except Exception as e:  # missing file, path outside the model's folder, ...
            raise err(f"cannot load the external data of its tensors ({type(e).__name__}: "
                      f"{e}); keep the data files next to the model, or re-save it with "
                      "onnx.save_model(model, path, save_as_external_data=False)") from e
    else:
        raise TypeError(f"from_onnx: expected a path, bytes or onnx.ModelProto, got "
                        f"{type(src).__name__}")
    if not proto.HasField("graph"):
        raise err("the model has no graph; is this an ONNX model?")
    return proto


def _attrs(node, helper):
    return {a.name: helper.get_attribute_value(a) for a in node.attribute}


def from_onnx(path_or_model, name=None):
    """Load an MLP graph (as written by :func:`to_onnx`) into a :class:`fastmlp.Sequential`.

    Raises ``ValueError`` naming the source (the path, ``<bytes>`` or ``<ModelProto>``) and
    listing the unsupported operators (or the first structural problem, e.g. a branch, a
    cycle, a non-constant or non-finite weight) for any other graph, and for a corrupt file
    or unreadable external data. Graphs with more than ``_MAX_NODES`` nodes are refused. A
    missing model file raises the usual ``OSError``.
    """
    onnx, helper, numpy_helper = _import_onnx()
    where = _source_name(path_or_model)
    prefix = f"from_onnx({where}): "

    def err(msg):
        return ValueError(prefix + msg)

    proto = _load(path_or_model, onnx, err)
    try:
        return _convert(proto, name, err, onnx, helper, numpy_helper)
    except ValueError as e:
        if str(e).startswith(prefix):
            raise
        # e.g. fastmlp refusing a layer or weight: still say which model it was
        raise err(str(e)) from e
    except (IndexError, KeyError, TypeError, ZeroDivisionError, OverflowError) as e:
        # a malformed graph that the checks above did not foresee
        raise err(f"malformed graph ({type(e).__name__}: {e})") from e


def _convert(proto, name, err, onnx, helper, numpy_helper):
    from ..layers import Dense, Flatten, LeakyReLU, ReLU, Rescaling, Sigmoid, Softmax, Tanh
    from ..models import Sequential

    g = proto.graph
    if len(g.node) > _MAX_NODES:
        raise err(f"the graph has {len(g.node)} nodes, more than the {_MAX_NODES} that "
                  "from_onnx reads (far more than any fastmlp MLP); it is not a fastmlp MLP")
    opset = None
    for imp in proto.opset_import:
        if imp.domain not in ("", "ai.onnx"):
            raise err(f"operator domain {imp.domain!r} is not supported (only the default "
                      "ONNX domain)")
        opset = imp.version
    if opset is None:
        raise err("the model declares no ONNX opset (opset_import is empty); re-export it")
    bad = sorted({n.op_type if not n.domain else f"{n.domain}::{n.op_type}" for n in g.node
                  if n.op_type not in SUPPORTED_OPS or n.domain not in ("", "ai.onnx")})
    if bad:
        raise err(f"the graph is not a fastmlp MLP; unsupported ops: {', '.join(bad)} "
                  f"(fastmlp reads {', '.join(SUPPORTED_OPS)})")

    def read_tensor(t, what):
        if any(d < 0 for d in t.dims):
            raise err(f"{what} has a negative dimension in its shape {list(t.dims)}; stored "
                      "tensors need dimensions >= 0 (the file is corrupt: re-export it)")
        if t.data_location == onnx.TensorProto.EXTERNAL:
            # only a path gives a folder to read it from; never guess one (e.g. the cwd)
            loc = {e.key: e.value for e in t.external_data}.get("location")
            raise err(f"{what} keeps its data in an external file ({loc!r}); pass the "
                      "model's file path (with the data file next to it) instead")
        try:
            return numpy_helper.to_array(t)
        except Exception as e:  # e.g. dims that do not match the stored data
            raise err(f"{what} cannot be read ({type(e).__name__}: {e})") from e

    consts, what_of = {}, {}
    for t in g.initializer:
        what_of[t.name] = f"initializer {t.name!r}"
        consts[t.name] = read_tensor(t, what_of[t.name])
    nodes = []
    for n in g.node:
        if n.op_type == "Constant":
            a = _attrs(n, helper)
            if "value" not in a:
                raise err(f"Constant node {n.name!r} without a tensor value")
            if len(n.output) != 1 or not n.output[0]:
                raise err(f"Constant node {n.name!r} must have exactly one output")
            what_of[n.output[0]] = f"Constant {n.output[0]!r}"
            consts[n.output[0]] = read_tensor(a["value"], what_of[n.output[0]])
        else:
            nodes.append(n)
    inputs = [i for i in g.input if i.name not in consts]
    if len(inputs) != 1 or len(g.output) != 1:
        raise err(f"expected one input and one output, got {[i.name for i in inputs]} -> "
                  f"{[o.name for o in g.output]}")
    dims = [d.dim_value if d.HasField("dim_value") else None
            for d in inputs[0].type.tensor_type.shape.dim]
    if any(d is not None and d < 0 for d in dims):
        raise err(f"input {inputs[0].name!r} has a negative dimension in its shape {dims}")
    elem = inputs[0].type.tensor_type.elem_type
    if elem not in (onnx.TensorProto.FLOAT, onnx.TensorProto.DOUBLE, onnx.TensorProto.FLOAT16):
        raise err(f"the input must be a float tensor, got element type "
                  f"{onnx.TensorProto.DataType.Name(elem)}")

    by_input: dict[str, list] = {}  # tensor -> indices into nodes
    for k, n in enumerate(nodes):
        for x in n.input:
            if x and x not in consts:
                by_input.setdefault(x, []).append(k)

    def raw_const(n, k):
        if k >= len(n.input) or not n.input[k]:
            return None
        if n.input[k] not in consts:
            raise err(f"{n.op_type} node {n.name!r} takes {n.input[k]!r} from another node; "
                      "only a chain with constant weights is supported")
        arr = np.asarray(consts[n.input[k]])
        # checked where used (weight, bias, scale, offset), so unused initializers stay free
        if arr.dtype.kind in "fc":
            bad_count = int(arr.size - np.count_nonzero(np.isfinite(arr)))
            if bad_count:
                raise err(f"{what_of[n.input[k]]} holds {bad_count} non-finite values "
                          f"(NaN/inf), used by {n.op_type} node {n.name!r}; fix or retrain "
                          "the source model")
        return arr

    def const_of(n, k):
        arr = raw_const(n, k)
        return None if arr is None else np.asarray(arr, dtype=np.float64)

    def scalar(n, arr):
        if arr.size != 1:
            raise err(f"{n.op_type} node {n.name!r} with a non-scalar constant of shape "
                      f"{arr.shape} is not supported (fastmlp's Rescaling is one scale and "
                      "one offset)")
        return float(arr.reshape(()))

    def as_f32(n, arr, what):
        with np.errstate(over="ignore", invalid="ignore"):
            out = np.asarray(arr, dtype=np.float32)
        if not np.all(np.isfinite(out)):
            raise err(f"{n.op_type} node {n.name!r}: its {what} is not finite in float32 "
                      f"(largest magnitude {np.max(np.abs(arr)):.3g}; fastmlp computes in "
                      "float32, whose largest value is about 3.4e38)")
        return out

    # walk the chain; a node met twice means the chain loops back on itself
    chain, cur, seen = [], inputs[0].name, set()
    while True:
        users = by_input.get(cur, [])
        if not users:
            break
        if len(users) > 1:
            raise err(f"tensor {cur!r} feeds {len(users)} nodes; only a single chain of "
                      "layers is supported")
        k = users[0]
        n = nodes[k]
        if k in seen:
            raise err(f"the graph has a cycle through node {n.name!r} (tensor {cur!r} feeds "
                      "it again); a fastmlp MLP is a chain from input to output")
        seen.add(k)
        data_in = [x for x in n.input if x and x not in consts]
        if data_in != [cur] or len(n.output) != 1:
            raise err(f"{n.op_type} node {n.name!r} is not part of a single chain (it "
                      "combines several computed tensors)")
        lo, hi = _ARITY.get(n.op_type, (1, 1))
        if not lo <= len(n.input) <= hi:
            raise err(f"{n.op_type} node {n.name!r} has {len(n.input)} inputs, expected "
                      f"{lo if lo == hi else f'{lo} to {hi}'}")
        chain.append(n)
        cur = n.output[0]
    if cur != g.output[0].name or len(chain) != len(nodes):
        raise err("the graph is not one chain from its input to its output")

    def one_row(b, out):
        # a bias must broadcast to one row [1, out]; e.g. [out, 1] would depend on the batch
        return b.ndim <= 2 and (b.ndim == 0 or b.shape[-1] in (1, out)) and \
            (b.ndim < 2 or b.shape[0] == 1)

    def rows_of(n):
        """Input features of a Gemm/MatMul node's weight (None where it has none)."""
        w = raw_const(n, 1)
        if w is None or w.ndim != 2:
            return None
        return w.shape[1] if n.op_type == "Gemm" and _attrs(n, helper).get("transB", 0) \
            else w.shape[0]

    layers, weights = [], []
    pending_scale, pending_offset = 1.0, 0.0
    have_rescale = False
    flat_width = None
    # features per example at this point of the chain, where known
    width = int(np.prod(dims[1:])) if len(dims) >= 2 and all(dims[1:]) else None

    def flush_rescale(n=None):
        nonlocal pending_scale, pending_offset, have_rescale
        if have_rescale:
            with np.errstate(over="ignore"):
                finite = np.isfinite(np.float32([pending_scale, pending_offset])).all()
            if not finite:
                at = f"before node {n.name!r}" if n is not None else "at the end of the graph"
                raise err(f"the Mul/Div/Add/Sub nodes {at} give a rescaling that is not "
                          f"finite in float32 (scale={pending_scale:g}, "
                          f"offset={pending_offset:g})")
            layers.append(Rescaling(pending_scale, pending_offset))
        pending_scale, pending_offset, have_rescale = 1.0, 0.0, False

    i = 0
    while i < len(chain):
        n = chain[i]
        op, a = n.op_type, _attrs(n, helper)
        nxt = chain[i + 1] if i + 1 < len(chain) else None
        if op in ("Identity", "Dropout"):  # Dropout: the identity at inference
            pass
        elif op in ("Mul", "Div", "Add", "Sub"):
            idx = 1 if n.input[1] in consts else 0
            v = scalar(n, const_of(n, idx))
            if op in ("Sub", "Div") and idx == 0:
                raise err(f"{op} node {n.name!r} with the constant first is not supported")
            if op == "Div" and v == 0.0:
                raise err(f"Div node {n.name!r} divides by zero ({n.input[1]!r} is 0)")
            if op == "Mul":
                pending_scale, pending_offset = pending_scale * v, pending_offset * v
            elif op == "Div":
                pending_scale, pending_offset = pending_scale / v, pending_offset / v
            else:
                pending_offset += v if op == "Add" else -v
            have_rescale = True
        elif op in ("Flatten", "Reshape"):
            if op == "Flatten" and a.get("axis", 1) != 1:
                raise err(f"Flatten node {n.name!r} with axis={a['axis']} (only axis=1 keeps "
                          "the batch dimension)")
            if op == "Reshape":
                shape_arr = raw_const(n, 1)
                if shape_arr is None or shape_arr.dtype.kind not in "iu":
                    raise err(f"Reshape node {n.name!r} needs a constant int64 shape, got "
                              f"{None if shape_arr is None else shape_arr.dtype}")
                shape = [int(s) for s in shape_arr.ravel()]
                if len(shape) != 2 or shape[0] not in (0, -1) or shape == [-1, -1]:
                    raise err(f"Reshape node {n.name!r} to {shape}: only a flatten to "
                              "[batch, features] is supported, e.g. [0, -1]")
                if a.get("allowzero", 0) and shape[0] == 0:
                    raise err(f"Reshape node {n.name!r} with allowzero=1 reshapes to an "
                              "empty batch; use allowzero=0 or shape [-1, features]")
                if shape[1] != -1:
                    # anything but the true width is not a flatten (it fails or regroups rows)
                    want = width
                    if want is None:
                        want = next((rows_of(m) for m in chain[i + 1:]
                                     if m.op_type in ("Gemm", "MatMul")), None)
                    if want is None or shape[1] != want:
                        raise err(f"Reshape node {n.name!r} to {shape}: the second dimension "
                                  f"must be -1 or the flattened feature count "
                                  f"({'unknown here' if want is None else want}); use "
                                  f"[{shape[0]}, -1]")
            flush_rescale(n)
            layers.append(Flatten())
        elif op in ("Gemm", "MatMul"):
            flush_rescale(n)
            if op == "Gemm":
                if a.get("transA", 0):
                    raise err(f"Gemm node {n.name!r} with transA=1")
                w = const_of(n, 1)
                if w is None or w.ndim != 2:
                    raise err(f"Gemm node {n.name!r} needs a 2-D constant B")
                w = (w.T if a.get("transB", 0) else w) * a.get("alpha", 1.0)
                b = const_of(n, 2)
                if b is not None:
                    if not one_row(b, w.shape[1]):
                        raise err(f"Gemm node {n.name!r}: bias C of shape {b.shape} does not "
                                  f"fit {w.shape[1]} outputs (expected shape "
                                  f"({w.shape[1]},) or (1, {w.shape[1]}))")
                    b = np.broadcast_to(b.reshape(-1) * a.get("beta", 1.0), (w.shape[1],))
            else:
                w = const_of(n, 1)
                if w is None or w.ndim != 2:
                    raise err(f"MatMul node {n.name!r} needs a 2-D constant weight as its "
                              "second input")
                b = None
                if nxt is not None and nxt.op_type == "Add" and nxt.input[1] in consts:
                    bb = const_of(nxt, 1)
                    if one_row(bb, w.shape[1]):
                        b = np.broadcast_to(bb.reshape(-1), (w.shape[1],))
                        i += 1
            if 0 in w.shape:
                raise err(f"{op} node {n.name!r} has an empty weight of shape {w.shape}")
            if width is not None and w.shape[0] != width:
                raise err(f"{op} node {n.name!r} takes {w.shape[0]} input features but "
                          f"receives {width}")
            if flat_width is None:
                flat_width = w.shape[0]
            width = int(w.shape[1])
            layers.append(Dense(w.shape[1], use_bias=b is not None))
            weights.append(as_f32(n, w, "weight"))
            if b is not None:
                weights.append(as_f32(n, b, "bias"))
        elif op == "Relu":
            flush_rescale(n)
            layers.append(ReLU())
        elif op == "LeakyRelu":
            flush_rescale(n)
            alpha = float(a.get("alpha", 0.01))
            if not np.isfinite(alpha):
                raise err(f"LeakyRelu node {n.name!r} with alpha={alpha}")
            layers.append(LeakyReLU(alpha=alpha))
        elif op == "Sigmoid":
            flush_rescale(n)
            layers.append(Sigmoid())
        elif op == "Tanh":
            flush_rescale(n)
            layers.append(Tanh())
        elif op == "Softmax":
            flush_rescale(n)
            if a.get("axis", 1 if opset < 13 else -1) not in (1, -1):
                raise err(f"Softmax node {n.name!r} with axis={a['axis']}")
            if i != len(chain) - 1:
                raise err("Softmax is only supported as the last layer")
            layers.append(Softmax())
        i += 1
    flush_rescale()
    if flat_width is None:
        raise err("the graph has no Gemm/MatMul layer")
    if len(dims) >= 2 and all(d for d in dims[1:]):
        input_shape = tuple(int(d) for d in dims[1:])
    else:
        input_shape = (int(flat_width),)
    model = Sequential(layers, input_shape=input_shape, seed=0, name=name or (g.name or None))
    model.set_weights(weights)
    return model
