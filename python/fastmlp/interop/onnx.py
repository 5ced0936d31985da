"""ONNX export and import of fastmlp MLPs (extra ``onnx``; ``onnx`` is imported lazily).

``to_onnx(model, path, opset=17)`` writes one node chain with a dynamic batch dimension:
``Flatten`` (inputs of rank > 2), ``Mul`` / ``Add`` (``Rescaling``), ``Gemm`` (or
``MatMul`` + ``Add`` with ``use_gemm=False``; ``MatMul`` alone without a bias), ``Relu``,
``LeakyRelu``, ``Sigmoid``, ``Tanh`` and ``Softmax`` (axis 1). Weights are initializers in
fastmlp's ``[in, out]`` layout, so ``Gemm`` has ``transB=0``.

``from_onnx(path_or_model)`` reads such a chain back (also ``Gemm`` with ``transB=1`` or
``alpha``/``beta``, ``Reshape`` to ``[N, -1]``, ``Identity``, ``Constant`` weights) and
refuses any other graph with a ``ValueError`` that lists what it cannot convert.
"""
from __future__ import annotations

import os

import numpy as np

__all__ = ["to_onnx", "from_onnx", "SUPPORTED_OPS"]

SUPPORTED_OPS = ("Gemm", "MatMul", "Add", "Sub", "Mul", "Div", "Relu", "LeakyRelu", "Sigmoid",
                 "Tanh", "Softmax", "Flatten", "Reshape", "Identity", "Constant")
_ACT_OPS = {"relu": "Relu", "leaky_relu": "LeakyRelu", "sigmoid": "Sigmoid", "tanh": "Tanh"}
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
    from ..layers import Dense, Flatten, LeakyReLU, Rescaling, Softmax, _Activation

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

    def const(name, arr):
        inits.append(numpy_helper.from_array(np.ascontiguousarray(arr, dtype=np.float32),
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
        if name == "leaky_relu":
            cur = node("LeakyRelu", [cur], "leaky_relu", alpha=float(alpha))
        else:
            cur = node(_ACT_OPS[name], [cur], name)

    for i, layer in enumerate(layers):
        if isinstance(layer, Flatten):
            if rank > 2:
                cur = node("Flatten", [cur], "flatten", axis=1)
                rank = 2
        elif isinstance(layer, Rescaling):
            if layer.scale != 1.0:
                cur = node("Mul", [cur, const("scale", np.float32(layer.scale))], "rescale_mul")
            if layer.offset != 0.0:
                cur = node("Add", [cur, const("offset", np.float32(layer.offset))],
                           "rescale_add")
        elif isinstance(layer, Dense):
            if rank > 2:  # Dense needs flat rows; the model had a Flatten upstream
                cur = node("Flatten", [cur], "flatten", axis=1)
                rank = 2
            w = const(f"{layer.name}_kernel", layer.kernel)
            if layer.use_bias and use_gemm:
                cur = node("Gemm", [cur, w, const(f"{layer.name}_bias", layer.bias)], "gemm")
            else:
                cur = node("MatMul", [cur, w], "matmul")
                if layer.use_bias:
                    cur = node("Add", [cur, const(f"{layer.name}_bias", layer.bias)], "bias_add")
            if layer.activation == "softmax":
                cur = node("Softmax", [cur], "softmax", axis=1)
            else:
                # a Dense activation is fused in the engine with LeakyReLU slope 0.01
                act(layer.activation, 0.01)
        elif isinstance(layer, _Activation):
            act(layer.act_name, layer.alpha if isinstance(layer, LeakyReLU) else 0.01)
        elif isinstance(layer, Softmax):
            cur = node("Softmax", [cur], "softmax", axis=1)
        else:
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
def _load(src, onnx):
    if isinstance(src, onnx.ModelProto):
        return src
    if isinstance(src, (bytes, bytearray)):
        return onnx.load_model_from_string(bytes(src))
    if isinstance(src, (str, os.PathLike)):
        return onnx.load_model(os.fspath(src))
    raise TypeError(f"from_onnx: expected a path, bytes or onnx.ModelProto, got "
                    f"{type(src).__name__}")


def _attrs(node, helper):
    return {a.name: helper.get_attribute_value(a) for a in node.attribute}


def from_onnx(path_or_model, name=None):
    """Load an MLP graph (as written by :func:`to_onnx`) into a :class:`fastmlp.Sequential`.

    Raises ``ValueError`` listing the unsupported operators (or the first structural
    problem, e.g. a branch or a non-constant weight) for any other graph.
    """
    onnx, helper, numpy_helper = _import_onnx()
    from ..layers import Dense, Flatten, LeakyReLU, ReLU, Rescaling, Sigmoid, Softmax, Tanh
    from ..models import Sequential

    proto = _load(path_or_model, onnx)
    g = proto.graph
    for imp in proto.opset_import:
        if imp.domain not in ("", "ai.onnx"):
            raise ValueError(f"from_onnx: operator domain {imp.domain!r} is not supported "
                             "(only the default ONNX domain)")
    bad = sorted({n.op_type if not n.domain else f"{n.domain}::{n.op_type}" for n in g.node
                  if n.op_type not in SUPPORTED_OPS or n.domain not in ("", "ai.onnx")})
    if bad:
        raise ValueError(f"from_onnx: the graph is not a fastmlp MLP; unsupported ops: "
                         f"{', '.join(bad)} (fastmlp reads {', '.join(SUPPORTED_OPS)})")

    consts = {t.name: numpy_helper.to_array(t) for t in g.initializer}
    nodes = []
    for n in g.node:
        if n.op_type == "Constant":
            a = _attrs(n, helper)
            if "value" not in a:
                raise ValueError(f"from_onnx: Constant node {n.name!r} without a tensor value")
            consts[n.output[0]] = numpy_helper.to_array(a["value"])
        else:
            nodes.append(n)
    inputs = [i for i in g.input if i.name not in consts]
    if len(inputs) != 1 or len(g.output) != 1:
        raise ValueError(f"from_onnx: expected one input and one output, got "
                         f"{[i.name for i in inputs]} -> {[o.name for o in g.output]}")
    dims = [d.dim_value if d.HasField("dim_value") else None
            for d in inputs[0].type.tensor_type.shape.dim]
    elem = inputs[0].type.tensor_type.elem_type
    if elem not in (onnx.TensorProto.FLOAT, onnx.TensorProto.DOUBLE, onnx.TensorProto.FLOAT16):
        raise ValueError(f"from_onnx: the input must be a float tensor, got element type "
                         f"{onnx.TensorProto.DataType.Name(elem)}")

    by_input: dict[str, list] = {}
    for n in nodes:
        for x in n.input:
            if x and x not in consts:
                by_input.setdefault(x, []).append(n)

    def const_of(n, k):
        if k >= len(n.input) or not n.input[k]:
            return None
        if n.input[k] not in consts:
            raise ValueError(f"from_onnx: {n.op_type} node {n.name!r} takes {n.input[k]!r} "
                             "from another node; only a chain with constant weights is "
                             "supported")
        return np.asarray(consts[n.input[k]], dtype=np.float64)

    def scalar(n, arr):
        if arr.size != 1:
            raise ValueError(f"from_onnx: {n.op_type} node {n.name!r} with a non-scalar "
                             f"constant of shape {arr.shape} is not supported (fastmlp's "
                             "Rescaling is one scale and one offset)")
        return float(arr.reshape(()))

    # walk the chain
    chain, cur = [], inputs[0].name
    while True:
        users = by_input.get(cur, [])
        if not users:
            break
        if len(users) > 1:
            raise ValueError(f"from_onnx: tensor {cur!r} feeds {len(users)} nodes; only a "
                             "single chain of layers is supported")
        n = users[0]
        data_in = [x for x in n.input if x and x not in consts]
        if data_in != [cur] or len(n.output) != 1:
            raise ValueError(f"from_onnx: {n.op_type} node {n.name!r} is not part of a single "
                             "chain (it combines several computed tensors)")
        chain.append(n)
        cur = n.output[0]
    if cur != g.output[0].name or len(chain) != len(nodes):
        raise ValueError("from_onnx: the graph is not one chain from its input to its output")

    layers, weights = [], []
    pending_scale, pending_offset = 1.0, 0.0
    have_rescale = False
    flat_width = None

    def flush_rescale():
        nonlocal pending_scale, pending_offset, have_rescale
        if have_rescale:
            layers.append(Rescaling(pending_scale, pending_offset))
        pending_scale, pending_offset, have_rescale = 1.0, 0.0, False

    i = 0
    while i < len(chain):
        n = chain[i]
        op, a = n.op_type, _attrs(n, helper)
        nxt = chain[i + 1] if i + 1 < len(chain) else None
        if op == "Identity":
            pass
        elif op in ("Mul", "Div", "Add", "Sub"):
            idx = 1 if n.input[1] in consts else 0
            v = scalar(n, const_of(n, idx))
            if op in ("Sub", "Div") and idx == 0:
                raise ValueError(f"from_onnx: {op} node {n.name!r} with the constant first is "
                                 "not supported")
            if op == "Mul":
                pending_scale, pending_offset = pending_scale * v, pending_offset * v
            elif op == "Div":
                pending_scale, pending_offset = pending_scale / v, pending_offset / v
            else:
                pending_offset += v if op == "Add" else -v
            have_rescale = True
        elif op in ("Flatten", "Reshape"):
            if op == "Flatten" and a.get("axis", 1) != 1:
                raise ValueError(f"from_onnx: Flatten node {n.name!r} with axis={a['axis']} "
                                 "(only axis=1 keeps the batch dimension)")
            if op == "Reshape":
                shape = [int(s) for s in const_of(n, 1).ravel()]
                if len(shape) != 2 or shape[0] not in (0, -1):
                    raise ValueError(f"from_onnx: Reshape node {n.name!r} to {shape}: only a "
                                     "flatten to [batch, features] is supported")
            flush_rescale()
            layers.append(Flatten())
        elif op in ("Gemm", "MatMul"):
            flush_rescale()
            if op == "Gemm":
                if a.get("transA", 0):
                    raise ValueError(f"from_onnx: Gemm node {n.name!r} with transA=1")
                w = const_of(n, 1)
                if w is None or w.ndim != 2:
                    raise ValueError(f"from_onnx: Gemm node {n.name!r} needs a 2-D constant B")
                w = (w.T if a.get("transB", 0) else w) * a.get("alpha", 1.0)
                b = const_of(n, 2)
                if b is not None:
                    b = np.broadcast_to(b * a.get("beta", 1.0), (w.shape[1],))
            else:
                w = const_of(n, 1)
                if w is None or w.ndim != 2:
                    raise ValueError(f"from_onnx: MatMul node {n.name!r} needs a 2-D constant "
                                     "weight as its second input")
                b = None
                if nxt is not None and nxt.op_type == "Add" and nxt.input[1] in consts:
                    bb = const_of(nxt, 1)
                    if bb.size in (1, w.shape[1]) and bb.ndim <= 2:
                        b = np.broadcast_to(bb.reshape(-1), (w.shape[1],))
                        i += 1
            if flat_width is None:
                flat_width = w.shape[0]
            layers.append(Dense(w.shape[1], use_bias=b is not None))
            weights += [w] if b is None else [w, b]
        elif op == "Relu":
            flush_rescale()
            layers.append(ReLU())
        elif op == "LeakyRelu":
            flush_rescale()
            layers.append(LeakyReLU(alpha=float(a.get("alpha", 0.01))))
        elif op == "Sigmoid":
            flush_rescale()
            layers.append(Sigmoid())
        elif op == "Tanh":
            flush_rescale()
            layers.append(Tanh())
        elif op == "Softmax":
            flush_rescale()
            if a.get("axis", 1 if proto.opset_import[0].version < 13 else -1) not in (1, -1):
                raise ValueError(f"from_onnx: Softmax node {n.name!r} with axis={a['axis']}")
            if i != len(chain) - 1:
                raise ValueError("from_onnx: Softmax is only supported as the last layer")
            layers.append(Softmax())
        i += 1
    flush_rescale()
    if flat_width is None:
        raise ValueError("from_onnx: the graph has no Gemm/MatMul layer")
    if len(dims) >= 2 and all(d for d in dims[1:]):
        input_shape = tuple(int(d) for d in dims[1:])
    else:
        input_shape = (int(flat_width),)
    model = Sequential(layers, input_shape=input_shape, seed=0, name=name or (g.name or None))
    model.set_weights([np.asarray(x, dtype=np.float32) for x in weights])
    return model
