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


# -- the other layers ------------------------------------------------------------------------
@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("activation", ["linear", "tanh", "sigmoid", "relu", "hard_sigmoid", "softmax"])
def test_dense(activation, dtype):
    model = randomize(mr.Sequential([mr.Input((None, 3), dtype=dtype), L.Dense(5, activation=activation, dtype=dtype),
                                     L.Dense(2, use_bias=False, dtype=dtype)]), scale=1.0)
    assert_parity(model, sequences((4, 6, 3), dtype))


@pytest.mark.parametrize("data_format", ["channels_last", "channels_first"])
@pytest.mark.parametrize("padding, strides, dilation", [("valid", 1, 1), ("valid", 2, 1), ("same", 1, 1),
                                                        ("same", 3, 1), ("same", 1, 2), ("causal", 1, 2),
                                                        ("causal", 2, 1)])
def test_conv_and_pooling(padding, strides, dilation, data_format):
    dtype = "float64" if strides == 3 else "float32"
    steps_first = data_format == "channels_last"
    layers = [mr.Input((None, 3) if steps_first else (3, None), dtype=dtype),
              L.Conv1D(4, 3, strides=strides, padding=padding, dilation_rate=dilation, data_format=data_format,
                       activation="softmax" if strides == 2 else "relu", dtype=dtype),
              L.MaxPooling1D(2, strides=strides, padding="same" if padding == "same" else "valid",
                             data_format=data_format, dtype=dtype)]
    model = randomize(mr.Sequential(layers))
    for steps in (11, 12):                           # odd and even lengths: "same" pads differently
        x = sequences((2, steps, 3) if steps_first else (2, 3, steps), dtype)
        assert_parity(model, x)


@pytest.mark.parametrize("keepdims", [False, True])
@pytest.mark.parametrize("data_format", ["channels_last", "channels_first"])
def test_global_pooling(data_format, keepdims):
    inputs = mr.Input((None, 3))
    x = L.Masking()(inputs)
    if data_format == "channels_first":
        x = L.Permute((2, 1))(x)          # the mask stops at Permute, as in Keras
    pools = [L.GlobalAveragePooling1D(data_format=data_format, keepdims=keepdims),
             L.GlobalMaxPooling1D(data_format=data_format, keepdims=keepdims)]
    masked_avg = L.GlobalAveragePooling1D(keepdims=keepdims)(L.Dense(3)(L.Masking()(inputs)))
    model = randomize(mr.Model(inputs, [pool(x) for pool in pools] + [masked_avg]))
    assert_parity(model, padded("left"))


def test_embedding_stack():
    ids = mr.Input((None,))
    x = L.Embedding(20, 6, mask_zero=True)(ids)
    x = L.Bidirectional(L.LSTM(4, return_sequences=True))(x)
    x = L.Dropout(0.5)(x)
    x = L.GRU(5, return_sequences=True)(x)
    x = L.TimeDistributed(L.Dense(3, activation="softmax"))(x)
    model = randomize(mr.Model(ids, [x, L.GlobalAveragePooling1D()(x)]))
    tokens = np.random.default_rng(3).integers(1, 20, (4, 9)).astype("float32")
    tokens[1, 5:] = 0
    tokens[2, :3] = 0
    assert_parity(model, tokens)


@pytest.mark.parametrize("merge", ["Add", "Subtract", "Multiply", "Average", "Maximum", "Minimum"])
def test_elementwise_merges(merge):
    a, b = mr.Input((None, 3)), mr.Input((None, 3))
    ma, mb = L.Masking()(a), L.Masking()(b)
    merged = getattr(L, merge)()([L.Dense(3)(ma), L.Dense(3)(mb)])
    model = randomize(mr.Model([a, b], [merged, L.LSTM(2)(merged)]))
    assert_parity(model, [padded("right"), padded("left")])


@pytest.mark.parametrize("axis", [-1, 1])
@pytest.mark.parametrize("masks", ["both", "one"])
def test_concatenate(axis, masks):
    a, b = mr.Input((None, 3)), mr.Input((None, 3))
    parts = [L.Masking()(a), L.Masking()(b) if masks == "both" else L.Dense(3)(b)]
    merged = L.Concatenate(axis=axis)(parts)
    model = randomize(mr.Model([a, b], [merged, L.SimpleRNN(2, return_sequences=True)(merged)]))
    assert_parity(model, [padded("right"), padded("holes")])


@pytest.mark.parametrize("normalize", [False, True])
def test_dot(normalize):
    a, b, c = mr.Input((None, 3)), mr.Input((5, 3)), mr.Input((3,))
    seq = L.Dot(axes=2, normalize=normalize)([a, b])                  # (batch, time, 5)
    vec = L.Dot(axes=1, normalize=normalize)([c, L.Dense(3)(c)])       # (batch, 1)
    over_time = L.Dot(axes=(1, 1), normalize=normalize)([a, a])       # (batch, 3, 3)
    model = randomize(mr.Model([a, b, c], [seq, vec, over_time]))
    assert_parity(model, [sequences((2, 4, 3)), sequences((2, 5, 3), seed=2), sequences((2, 3), seed=3)])


def test_reshaping_layers():
    inputs = mr.Input((6, 4))
    x = L.Reshape((3, -1))(inputs)                  # (batch, 3, 8)
    x = L.Permute((2, 1))(x)                        # (batch, 8, 3)
    x = L.Rescaling(0.5, offset=0.25)(x)
    flat = L.Flatten()(x)
    repeated = L.RepeatVector(3)(L.Dense(2)(flat))
    first = L.Flatten(data_format="channels_first")(L.Reshape((2, 3, 4))(inputs))
    model = randomize(mr.Model(inputs, [repeated, first, L.Rescaling(np.arange(3, dtype="float32"))(x)]))
    assert_parity(model, sequences((3, 6, 4)))


def test_nested_models_and_shared_layers():
    encoder = mr.Sequential([mr.Input((None, 2)), L.Masking(), L.LSTM(3, return_sequences=True)], name="encoder")
    shared = L.Dense(2)
    a, b = mr.Input((None, 2)), mr.Input((None, 2))
    out = L.Add()([shared(L.GRU(3)(encoder(a))), shared(L.GRU(3)(encoder(b)))])
    model = randomize(mr.Model([a, b], out))
    assert_parity(model, [padded("right")[..., :2], padded("holes")[..., :2]])
    proto = to_onnx(model)
    assert len([i for i in proto.graph.initializer if i.name.startswith("dense")]) == 2   # weights written once


# -- Lambda ----------------------------------------------------------------------------------
LAMBDAS = {
    "new axis": lambda x: x[..., None],
    "last step": lambda x: x[:, -1],
    "reversed, strided": lambda x: x[:, ::-2, 1:],
    "mean of squares": lambda x: ops.mean(ops.square(x), axis=1),
    "arithmetic": lambda x: 2.0 * x - x / 3.0 + 1.0,
    "elementwise": lambda x: ops.tanh(ops.sigmoid(x)) + ops.sqrt(ops.abs(x)) - ops.exp(-ops.relu(x)),
    "power, log, clip": lambda x: ops.log(ops.clip(x, 0.1, 2.0)) + ops.power(x, 2) - ops.negative(x),
    "reductions": lambda x: ops.concatenate([ops.max(x, axis=-1, keepdims=True), ops.min(x, axis=-1, keepdims=True),
                                             ops.sum(x, axis=-1, keepdims=True)], axis=-1),
    "matmul by a constant": lambda x: ops.matmul(x, np.arange(6, dtype="float32").reshape(3, 2)),
    "transpose": lambda x: ops.transpose(x, (0, 2, 1))[:, 0] + ops.transpose(ops.transpose(x))[:, :, 2],
    "reshape, stack": lambda x: ops.stack([ops.reshape(x, (-1, 3)), ops.reshape(x, (-1, 3))], axis=1),
    "expand, squeeze": lambda x: ops.squeeze(ops.expand_dims(x, axis=1), axis=1) * ops.cast(x, "float64"),
}


@pytest.mark.parametrize("name", sorted(LAMBDAS))
def test_lambda(name):
    model = mr.Sequential([mr.Input((None, 3)), L.Lambda(LAMBDAS[name])])
    assert_parity(model, np.abs(sequences((2, 5, 3))) + 0.1)


def test_lambda_in_a_recurrent_model():
    model = randomize(mr.Sequential([mr.Input((12,)), L.Lambda(lambda v: v[..., None]), L.GRU(5), L.Dense(1)]))
    assert_parity(model, sequences((4, 12)))


def test_generic_rnn_wrapper():
    model = randomize(mr.Sequential([mr.Input((None, 2)), L.RNN(mr.cells.LSTMCell(3), return_sequences=True)]))
    assert_parity(model, sequences((2, 5, 2)))


# -- files and refusals ----------------------------------------------------------------------
def test_model_export_writes_a_servable_file(tmp_path):
    model = randomize(mr.Sequential([mr.Input((None, 2)), L.LSTM(4), L.Dense(1)]))
    path = tmp_path / "model.onnx"
    model.export(str(path), format="onnx")
    s = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    x = sequences((3, 8, 2))
    np.testing.assert_allclose(s.run(None, {s.get_inputs()[0].name: x})[0], model.predict(x, verbose=0), atol=TOL)
    assert [p.name for p in tmp_path.iterdir()] == ["model.onnx"]            # no temporary file left
    with pytest.raises(ValueError, match="format='onnx' only"):
        model.export(str(tmp_path / "m"), format="tf_saved_model")
    with pytest.raises(ValueError, match="ends in '.onnx'"):
        export(model, tmp_path / "model.bin")


class Doubling(L.Layer):
    def call(self, x, training=False):
        return 2 * x


def _refused(model, tmp_path, *fragments):
    path = tmp_path / "model.onnx"
    path.write_bytes(b"previous")
    with pytest.raises(ValueError) as info:
        export(model, path)
    for fragment in fragments:
        assert fragment in str(info.value)
    assert path.read_bytes() == b"previous" and len(os.listdir(tmp_path)) == 1      # nothing written


def test_refusals_name_every_layer_before_writing(tmp_path):
    inputs = mr.Input((None, 3))
    x = Doubling(name="doubling")(inputs)
    x = L.Lambda(lambda v: np.cumsum(v, axis=1), name="numpy_lambda")(x)
    x = L.Lambda(lambda v: ops.reshape(v, (ops.shape(v)[0], -1)), name="sized_lambda")(x)
    _refused(mr.Model(inputs, x), tmp_path, "layer 'doubling' (Doubling): no ONNX form",
             "layer 'numpy_lambda' (Lambda): its function is not built from minirnn.ops",
             "layer 'sized_lambda' (Lambda): its function computes differently for other batch")


def test_refuses_stateful_layers_and_custom_cells(tmp_path):
    stateful = mr.Sequential([mr.Input((None, 3), batch_size=2), L.GRU(3, stateful=True, name="carried")])
    _refused(stateful, tmp_path, "layer 'carried' (GRU): stateful=True")

    class Cell(mr.cells.SimpleRNNCell):
        pass
    custom = mr.Sequential([mr.Input((None, 3)), L.RNN(Cell(3), name="own_cell")])
    _refused(custom, tmp_path, "layer 'own_cell' (RNN): its cell Cell is not")


def test_refuses_fancy_indexing_in_a_lambda(tmp_path):
    model = mr.Sequential([mr.Input((None, 3)), L.Lambda(lambda v: v[..., [0, 2]], name="fancy")])
    _refused(model, tmp_path, "layer 'fancy' (Lambda): indexing with list")


def test_float64_model_of_every_kind():
    f = "float64"
    ids, seq = mr.Input((None,), dtype=f), mr.Input((None, 3), dtype=f)
    words = L.Embedding(12, 4, mask_zero=True, dtype=f)(ids)
    words = L.Bidirectional(L.LSTM(3, return_sequences=True, dtype=f), merge_mode="ave", dtype=f)(words)
    conv = L.Conv1D(4, 3, padding="same", strides=2, dtype=f)(seq)
    conv = L.GlobalMaxPooling1D(dtype=f)(L.MaxPooling1D(2, padding="same", dtype=f)(conv))
    per_step = L.TimeDistributed(L.Dense(4, activation="hard_sigmoid", dtype=f), dtype=f)(seq)
    joined = L.Concatenate(dtype=f)([L.SimpleRNN(3, dtype=f)(per_step), L.GRU(3, dtype=f)(words), conv])
    scores = L.Dot(axes=1, normalize=True, dtype=f)([joined, L.Dense(10, dtype=f)(joined)])
    out = L.Lambda(lambda v: ops.sigmoid(v) * 2.0, dtype=f)(scores)
    model = randomize(mr.Model([ids, seq], [out, joined]))
    tokens = np.random.default_rng(4).integers(1, 12, (3, 7)).astype(f)
    tokens[0, 4:] = 0
    assert_parity(model, [tokens, sequences((3, 9, 3), f)])


@pytest.mark.parametrize("opset", [18, 21])
def test_newer_opsets(opset):
    inputs = mr.Input((None, 3))
    x = L.Masking()(inputs)
    seq = L.GRU(4, return_sequences=True)(x)
    pooled = L.Concatenate()([L.GlobalAveragePooling1D()(seq), L.GlobalMaxPooling1D()(seq),
                              L.Lambda(lambda v: ops.mean(v, axis=1))(L.Conv1D(2, 3, padding="same", strides=2)(inputs))])
    model = randomize(mr.Model(inputs, pooled))
    assert to_onnx(model, opset=opset).opset_import[0].version == opset
    assert_parity(model, padded("left"), opset=opset)
    with pytest.raises(ValueError, match="opset must be an int from 17"):
        to_onnx(model, opset=16)
