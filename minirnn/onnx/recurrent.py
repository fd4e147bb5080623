"""SimpleRNN, LSTM, GRU and Bidirectional as ONNX: the native operators, or the cell's equations in a Scan.

Native operators (``RNN``, ``LSTM``, ``GRU``) are used for float32 layers whose activations are
tanh, sigmoid or relu, unmasked (or masked with ``mask_padding="right"``, through
``sequence_lens``).  They differ from Keras's layout in three ways, undone here:

    layout     ONNX is time-major (T, B, D)          Transpose in, Transpose out
    weights    W (1, G n, D) = kernel^T,  R = recurrent_kernel^T,  B = [Wb | Rb]
    gates      LSTM i o f c  (Keras i f c o)         columns reordered
               GRU  z r h    (the same)              reset_after=True  -> linear_before_reset=1, Rb = b'
                                                     reset_after=False -> linear_before_reset=0, Rb = 0:
               h~ = phi(x W_h + (r * h) U_h + b_h), Keras's original GRU

Everything else runs the cell's forward equations (F1..F5 of cells/*.py) in a Scan over time: XW
for all steps in one MatMul, then per step the recurrent product, the gates, and masking exactly
as minirnn does it (a masked step keeps the state; its output is 0 with zero_output_for_mask,
else the last unmasked output).  That covers float64 (onnxruntime's CPU recurrent kernels are
float32 only), any mask (left- or right-padded, or holes), and hard_sigmoid or linear activations.
"""
import numpy as np

from .. import activations as A
from ..cells import GRUCell, LSTMCell, SimpleRNNCell
from ..layers import GRU, LSTM, RNN, Bidirectional, SimpleRNN
from .graph import converts, helper, tensor_type

NATIVE_OPS = {SimpleRNNCell: "RNN", LSTMCell: "LSTM", GRUCell: "GRU"}
NATIVE_ACTIVATIONS = {A.TANH: "Tanh", A.SIGMOID: "Sigmoid", A.RELU: "Relu"}
LSTM_TO_ONNX = (0, 3, 1, 2)          # ONNX's i o f c, as blocks of Keras's i f c o


def refusal(layer):
    """Why a recurrent layer cannot be exported, or None."""
    cell = layer.cell
    if type(cell) not in NATIVE_OPS:
        return f"its cell {type(cell).__name__} is not SimpleRNNCell, LSTMCell or GRUCell"
    if layer.stateful:
        return ("stateful=True carries states between predict calls, which a served graph cannot; "
                "rebuild it with stateful=False and the same weights (the states become inputs via initial_state)")
    return None


def _blocks(array, order, n):
    """The column blocks of `array` (last axis, width n each) in `order`."""
    return np.concatenate([array[..., k * n:(k + 1) * n] for k in order], axis=-1)


def _native(ctx, layer, x, mask, states):
    """(output sequence (T, B, n) in the order minirnn returns it, last output, final states)."""
    g, cell, n = ctx.g, layer.cell, layer.units
    op = NATIVE_OPS[type(cell)]
    order = LSTM_TO_ONNX if op == "LSTM" else tuple(range(cell.gates))
    tag = f"{layer.name}/"
    W = ctx.weight((layer, "W"), lambda: _blocks(cell.kernel, order, n).T[None], tag + "W")
    R = ctx.weight((layer, "R"), lambda: _blocks(cell.recurrent_kernel, order, n).T[None], tag + "R")
    B = ""
    if cell.use_bias:
        def biases():
            rec = cell.recurrent_bias() if op == "GRU" else None
            Rb = np.zeros(cell.gates * n, cell.dtype) if rec is None else rec
            return np.concatenate([_blocks(cell.input_bias(), order, n), _blocks(Rb, order, n)])[None]
        B = ctx.weight((layer, "B"), biases, tag + "B")
    lens = ""
    if mask is not None:                                       # right-padded: length = number of real steps
        lens = g.reduce("ReduceSum", g.cast(mask, np.int32), [1], keepdims=False)
    Xt = g.transpose(x.name, (1, 0, 2))
    initial = [g.unsqueeze(s, [0]) for s in states] if states else [""] * len(cell.state_names)
    act, rec = NATIVE_ACTIVATIONS[cell.activation], NATIVE_ACTIVATIONS.get(cell.recurrent_activation)
    activations = {"RNN": [act], "LSTM": [rec, act, act], "GRU": [rec, act]}[op]
    inputs = [Xt, W, R, B, lens] + initial
    while inputs[-1] == "":
        inputs.pop()
    outs = g.op(op, inputs, layer.name, outputs=1 + len(cell.state_names), hidden_size=n,
                direction="reverse" if layer.go_backwards else "forward", activations=activations,
                linear_before_reset=int(cell.reset_after) if op == "GRU" else None)
    Y = g.squeeze(outs[0], [1])                                 # (T, B, n), zeros past a sequence's length
    final = [g.squeeze(s, [0]) for s in outs[1:]]
    h_T = final[0]
    if layer.go_backwards:            # minirnn returns the reversed sequence; its padding (now first) shows 0
        return g.reverse(Y, 0), _shown_last(ctx, layer, h_T, mask, 0), final
    if mask is not None and not layer.zero_output_for_mask:    # padded steps repeat the last real output
        m = g.unsqueeze(g.transpose(g.cast(mask, x.dtype), (1, 0)), [2])
        gap = g.op("Sub", [g.const(1, x.dtype), m])
        Y = g.op("Add", [Y, g.op("Mul", [gap, g.unsqueeze(h_T, [0])])])
    return Y, _shown_last(ctx, layer, h_T, mask, -1), final


def _shown_last(ctx, layer, h_T, mask, step):
    """The last output: h_T, or 0 for a sequence whose last step read is padding (zero_output_for_mask)."""
    if mask is None or not layer.zero_output_for_mask:
        return h_T
    g = ctx.g
    m = g.op("Gather", [g.cast(mask, layer.dtype), g.const(np.int64(step), np.int64)], axis=1)
    return g.op("Mul", [h_T, g.unsqueeze(m, [1])])


def _step(b, ctx, layer, xw, states, U):
    """One step of the cell's forward equations in body graph `b`: (new states, h_t), unmasked."""
    cell, n, dt = layer.cell, layer.units, layer.dtype
    f, phi = cell.recurrent_activation, cell.activation
    h = states[0]

    def split(v, k):
        return b.op("Split", [v, b.ints([n] * k)], "gates", outputs=k, axis=1)
    if isinstance(cell, LSTMCell):
        a = b.op("Add", [xw, b.op("MatMul", [h, U])])                                   # F1
        a_i, a_f, a_c, a_o = split(a, 4)
        i, fg, gg, o = (b.activation(a_i, f, dt), b.activation(a_f, f, dt),            # F2
                        b.activation(a_c, phi, dt), b.activation(a_o, f, dt))
        c = b.op("Add", [b.op("Mul", [fg, states[1]]), b.op("Mul", [i, gg])])          # F3
        h_new = b.op("Mul", [o, b.activation(c, phi, dt)])                              # F4
        return [h_new, c], h_new
    if isinstance(cell, GRUCell):
        x_z, x_r, x_h = split(xw, 3)
        if cell.reset_after:
            hU = b.op("MatMul", [h, U])
            if cell.use_bias:
                hU = b.op("Add", [hU, ctx.weight((layer, "b_rec"), cell.recurrent_bias, f"{layer.name}/b_rec")])
            hU_z, hU_r, hU_h = split(hU, 3)                                             # F1
            z = b.activation(b.op("Add", [x_z, hU_z]), f, dt)                           # F2
            r = b.activation(b.op("Add", [x_r, hU_r]), f, dt)
            gg = b.activation(b.op("Add", [x_h, b.op("Mul", [r, hU_h])]), phi, dt)      # F3
        else:
            U_zr = ctx.weight((layer, "U_zr"), lambda: cell.recurrent_kernel[:, :2 * n], f"{layer.name}/U_zr")
            U_h = ctx.weight((layer, "U_h"), lambda: cell.recurrent_kernel[:, 2 * n:], f"{layer.name}/U_h")
            hU_z, hU_r = split(b.op("MatMul", [h, U_zr]), 2)                            # F1'
            z = b.activation(b.op("Add", [x_z, hU_z]), f, dt)                           # F2'
            r = b.activation(b.op("Add", [x_r, hU_r]), f, dt)
            rh = b.op("MatMul", [b.op("Mul", [r, h]), U_h])
            gg = b.activation(b.op("Add", [x_h, rh]), phi, dt)                          # F3'
        one_minus_z = b.op("Sub", [b.const(1, dt), z])
        h_new = b.op("Add", [b.op("Mul", [z, h]), b.op("Mul", [one_minus_z, gg])])     # F4
        return [h_new], h_new
    h_new = b.activation(b.op("Add", [xw, b.op("MatMul", [h, U])]), phi, dt)            # F1, F2
    return [h_new], h_new


def _scan(ctx, layer, x, mask, states):
    """(output sequence (T, B, n) in minirnn's order, last output, final states) by a Scan over time."""
    g, cell, n, dt = ctx.g, layer.cell, layer.units, np.dtype(layer.dtype)
    kind = tensor_type(dt)
    Xt = g.transpose(x.name, (1, 0, 2))
    XW = g.op("MatMul", [Xt, ctx.weight((layer, "kernel"), lambda: cell.kernel, f"{layer.name}/kernel")])
    if cell.use_bias:
        XW = g.op("Add", [XW, ctx.weight((layer, "b_in"), cell.input_bias, f"{layer.name}/b_in")])
    split_U = isinstance(cell, GRUCell) and not cell.reset_after      # U_zr and U_h, made in _step
    U = None if split_U else ctx.weight((layer, "U"), lambda: cell.recurrent_kernel, f"{layer.name}/recurrent_kernel")
    states = list(states) or [g.zeros(x.name, n, dt) for _ in cell.state_names]
    masked = mask is not None
    seen = masked and not layer.zero_output_for_mask       # outputs stay 0 until the first real step
    carried = states + ([g.zeros(x.name, 1, dt)] if seen else [])
    scanned = [XW] + ([g.unsqueeze(g.transpose(g.cast(mask, dt), (1, 0)), [2])] if masked else [])

    b = g.body()
    s_in = [b.fresh(f"{layer.name}/{s}_prev") for s in cell.state_names]
    seen_in = b.fresh(f"{layer.name}/seen_prev") if seen else None
    xw, m = b.fresh(f"{layer.name}/xw_t"), (b.fresh(f"{layer.name}/m_t") if masked else None)
    new, h_new = _step(b, ctx, layer, xw, s_in, U)
    if masked:                                              # F5: s_t = s_{t-1} + m_t (s_new - s_{t-1})
        new = [b.op("Add", [p, b.op("Mul", [m, b.op("Sub", [s, p])])]) for s, p in zip(new, s_in)]
    y = new[0]
    outs = list(new)
    if masked and layer.zero_output_for_mask:
        y = b.op("Mul", [y, m])
    elif seen:
        seen_out = b.op("Max", [seen_in, m], "seen")
        y = b.op("Mul", [y, seen_out])
        outs.append(seen_out)
    y = b.op("Identity", [y], f"{layer.name}/y_t")
    outs = [b.op("Identity", [o], f"{layer.name}/state_out") for o in outs]
    info = lambda name, width: helper.make_tensor_value_info(name, kind, [None, width])  # noqa: E731
    body = helper.make_graph(b.nodes, f"{layer.name}_step",
                             [info(s, n) for s in s_in] + ([info(seen_in, 1)] if seen else [])
                             + [info(xw, cell.gates * n)] + ([info(m, 1)] if masked else []),
                             [info(o, n if k < len(s_in) else 1) for k, o in enumerate(outs)] + [info(y, n)],
                             b.initializers)
    results = g.op("Scan", carried + scanned, layer.name, outputs=len(carried) + 1, body=body,
                   num_scan_inputs=len(scanned),
                   scan_input_directions=[1] * len(scanned) if layer.go_backwards else None)
    Y, final = results[-1], results[:len(states)]
    last = g.op("Gather", [Y, g.const(np.int64(-1), np.int64)], axis=0)
    return Y, last, final


def uses_native(ctx, layer, mask):
    cell = layer.cell
    return (np.dtype(layer.dtype) == np.float32 and cell.activation in NATIVE_ACTIVATIONS
            and (cell.recurrent_activation in NATIVE_ACTIVATIONS or isinstance(cell, SimpleRNNCell))
            and (mask is None or ctx.mask_padding == "right") and not ctx.scan_only)


def run(ctx, layer, x, mask, states):
    """(output (batch-first, as the layer returns it), final states) of a recurrent layer."""
    Y, last, final = (_native if uses_native(ctx, layer, mask) else _scan)(ctx, layer, x, mask, states)
    out = ctx.g.transpose(Y, (1, 0, 2)) if layer.return_sequences else last
    return out, final


def _cast_states(ctx, layer, values):
    return [ctx.g.cast(v.name, layer.dtype, v.dtype) for v in values]


@converts(RNN, SimpleRNN, LSTM, GRU)
def convert_rnn(ctx, layer, inputs):
    x, states = inputs[0], _cast_states(ctx, layer, inputs[1:])
    out, final = run(ctx, layer, x, x.mask, states)
    mask = x.mask if layer.return_sequences else None
    return [(out, mask)] + [(s, None) for s in final] if layer.return_state else [(out, mask)]


@converts(Bidirectional)
def convert_bidirectional(ctx, layer, inputs):
    g, x = ctx.g, inputs[0]
    states = _cast_states(ctx, layer, inputs[1:])
    half = len(states) // 2
    f_out, f_states = run(ctx, layer.forward_layer, x, x.mask, states[:half])
    b_out, b_states = run(ctx, layer.backward_layer, x, x.mask, states[half:])
    if layer.return_sequences:
        b_out = g.reverse(b_out, 1)                  # back to the input's time order
    mode = layer.merge_mode
    if mode == "concat":
        outs = [g.op("Concat", [f_out, b_out], "concat", axis=-1)]
    elif mode == "sum":
        outs = [g.op("Add", [f_out, b_out])]
    elif mode == "mul":
        outs = [g.op("Mul", [f_out, b_out])]
    elif mode == "ave":
        outs = [g.op("Div", [g.op("Add", [f_out, b_out]), g.const(2, layer.dtype)])]
    else:
        outs = [f_out, b_out]
    mask = x.mask if layer.return_sequences else None
    result = [(outs[0], mask)] + [(o, None) for o in outs[1:]]
    return result + [(s, None) for s in f_states + b_states] if layer.return_state else result


__all__ = ["refusal", "run"]
