"""ONNX export: every exportable layer and flag, run by onnxruntime, equal to minirnn's predict.

Each model gets random weights (biases included, so no term hides behind a zero), is exported,
checked by ``onnx.checker`` (full check: types and shapes inferred through the graph) and run by
onnxruntime; the outputs must equal ``model.predict`` to 1e-5 (float32 and float64).  Both
recurrent forms are covered: the native RNN/LSTM/GRU operators and the Scan of the cell's
equations (float64, masks, other activations, ``recurrent_form="scan"``).
"""
import os

import numpy as np
import pytest

import minirnn as mr
from minirnn import layers as L
from minirnn import ops

onnx = pytest.importorskip("onnx")
ort = pytest.importorskip("onnxruntime")
from minirnn.onnx import export, to_onnx  # noqa: E402

TOL = 1e-5
RECURRENT = {"SimpleRNN": lambda **kw: L.SimpleRNN(4, **kw), "LSTM": lambda **kw: L.LSTM(4, **kw),
             "GRU": lambda **kw: L.GRU(4, **kw), "GRU_reset_before": lambda **kw: L.GRU(4, reset_after=False, **kw)}


def randomize(model, seed=0, scale=0.5):
    rng = np.random.default_rng(seed)
    model.set_weights([rng.normal(0, scale, w.shape).astype(w.dtype) for w in model.weights])
    return model


def session(proto):
    onnx.checker.check_model(proto, full_check=True)
    options = ort.SessionOptions()
    options.log_severity_level = 3
    return ort.InferenceSession(proto.SerializeToString(), options, providers=["CPUExecutionProvider"])


def run_onnx(model, x, **kwargs):
    s = session(to_onnx(model, **kwargs))
    xs = x if isinstance(x, list) else [x]
    return s.run(None, {i.name: a for i, a in zip(s.get_inputs(), xs)})


def assert_parity(model, x, **kwargs):
    """ONNX outputs == predict's, to TOL; returns the largest difference."""
    got = run_onnx(model, x, **kwargs)
    want = model.predict(x, verbose=0)
    want = want if isinstance(want, list) else [want]
    assert len(got) == len(want)
    worst = 0.0
    for g, w in zip(got, want):
        assert g.shape == w.shape and g.dtype == w.dtype
        worst = max(worst, float(np.max(np.abs(g - w))))
    assert worst <= TOL, f"largest difference {worst:.3g}"
    return worst


def sequences(shape, dtype="float32", seed=1):
    return np.random.default_rng(seed).normal(size=shape).astype(dtype)


# -- recurrent layers ----------------------------------------------------------------------
@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("form", ["auto", "scan"])
@pytest.mark.parametrize("go_backwards", [False, True])
@pytest.mark.parametrize("return_sequences", [False, True])
@pytest.mark.parametrize("kind", sorted(RECURRENT))
def test_recurrent_layers(kind, return_sequences, go_backwards, form, dtype):
    inputs = mr.Input((None, 3), dtype=dtype)
    outputs = RECURRENT[kind](return_sequences=return_sequences, return_state=True, go_backwards=go_backwards,
                              dtype=dtype)(inputs)
    model = randomize(mr.Model(inputs, outputs))
    assert_parity(model, sequences((5, 6, 3), dtype), recurrent_form=form)


@pytest.mark.parametrize("activation, recurrent_activation", [("relu", "sigmoid"), ("tanh", "hard_sigmoid"),
                                                              ("linear", "sigmoid"), ("sigmoid", "relu")])
@pytest.mark.parametrize("kind", ["SimpleRNN", "LSTM", "GRU"])
def test_recurrent_activations(kind, activation, recurrent_activation):
    kwargs = {} if kind == "SimpleRNN" else {"recurrent_activation": recurrent_activation}
    layer = getattr(L, kind)(4, activation=activation, return_sequences=True, **kwargs)
    model = randomize(mr.Sequential([mr.Input((None, 3)), layer]), scale=0.3)
    assert_parity(model, sequences((3, 5, 3)))


def test_dynamic_batch_and_time():
    model = randomize(mr.Sequential([mr.Input((None, 2)), L.LSTM(4, return_sequences=True), L.GRU(3), L.Dense(2)]))
    s = session(to_onnx(model))
    for shape in [(1, 1, 2), (7, 13, 2), (2, 40, 2)]:
        x = sequences(shape)
        np.testing.assert_allclose(s.run(None, {s.get_inputs()[0].name: x})[0], model.predict(x, verbose=0), atol=TOL)
    declared = [d.dim_param or d.dim_value for d in s.get_inputs()[0].shape] if False else None
    dims = to_onnx(model).graph.input[0].type.tensor_type.shape.dim
    assert dims[0].dim_param == "batch" and not dims[1].dim_value and dims[2].dim_value == 2


# -- masks -----------------------------------------------------------------------------------
def padded(kind, dtype="float32"):
    """Sequences of 3 features with zero steps as padding: right-padded, left-padded or with holes."""
    x = sequences((4, 7, 3), dtype, seed=2)
    lengths = [7, 4, 1, 5]
    for b, n in enumerate(lengths):
        if kind == "right":
            x[b, n:] = 0
        elif kind == "left":
            x[b, :7 - n] = 0
        else:
            x[b, 1::3] = 0
    return x


@pytest.mark.parametrize("padding", ["right", "left", "holes"])
@pytest.mark.parametrize("zero_output", [False, True])
@pytest.mark.parametrize("go_backwards", [False, True])
@pytest.mark.parametrize("return_sequences", [False, True])
@pytest.mark.parametrize("kind", ["SimpleRNN", "LSTM", "GRU"])
def test_masked_recurrent(kind, return_sequences, go_backwards, zero_output, padding):
    inputs = mr.Input((None, 3))
    layer = RECURRENT[kind](return_sequences=return_sequences, return_state=True, go_backwards=go_backwards,
                            zero_output_for_mask=zero_output)
    model = randomize(mr.Model(inputs, layer(L.Masking(0.0)(inputs))))
    x = padded(padding)
    assert_parity(model, x)                                     # Scan: exact for any mask
    if padding == "right":
        assert_parity(model, x, mask_padding="right")           # native operators with sequence_lens


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_masked_float64_and_stack(dtype):
    model = randomize(mr.Sequential([mr.Input((None, 3), dtype=dtype), L.Masking(dtype=dtype),
                                     L.LSTM(4, return_sequences=True, dtype=dtype), L.GRU(3, dtype=dtype),
                                     L.Dense(2, dtype=dtype)]))
    assert_parity(model, padded("left", dtype))


def test_initial_states_as_inputs():
    x_in, h_in, c_in = mr.Input((None, 3)), mr.Input((4,)), mr.Input((4,))
    out = L.LSTM(4, return_sequences=True)(x_in, initial_state=[h_in, c_in])
    model = randomize(mr.Model([x_in, h_in, c_in], out))
    states = [sequences((5, 4), seed=s) for s in (3, 4)]
    assert_parity(model, [sequences((5, 6, 3))] + states)
    assert_parity(model, [sequences((5, 6, 3))] + states, recurrent_form="scan")


# -- Bidirectional ---------------------------------------------------------------------------
@pytest.mark.parametrize("masked", [False, True])
@pytest.mark.parametrize("return_state", [False, True])
@pytest.mark.parametrize("return_sequences", [False, True])
@pytest.mark.parametrize("merge_mode", ["concat", "sum", "mul", "ave", None])
def test_bidirectional(merge_mode, return_sequences, return_state, masked):
    inputs = mr.Input((None, 3))
    x = L.Masking()(inputs) if masked else inputs
    out = L.Bidirectional(L.GRU(4, return_sequences=return_sequences, return_state=return_state),
                          merge_mode=merge_mode)(x)
    model = randomize(mr.Model(inputs, out))
    assert_parity(model, padded("right") if masked else sequences((4, 7, 3)))
    if masked:
        assert_parity(model, padded("right"), mask_padding="right")


def test_bidirectional_with_other_backward_layer():
    layer = L.Bidirectional(L.LSTM(3, return_sequences=True),
                            backward_layer=L.SimpleRNN(5, return_sequences=True, go_backwards=True))
    model = randomize(mr.Sequential([mr.Input((None, 2)), layer, L.GlobalAveragePooling1D()]))
    assert_parity(model, sequences((3, 6, 2)))
