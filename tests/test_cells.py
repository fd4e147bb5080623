"""The cell contract (cells/base.py): registration, weights by name, a user's cell end to end."""
import numpy as np
import pytest

import minirnn as mr
from minirnn import registry
from minirnn.cells import Cell, GRUCell, LSTMCell, SimpleRNNCell
from minirnn.layers import RNN

from example_loader import load_example


@pytest.fixture(scope="module")
def custom_cell():
    return load_example("custom_cell")


def test_minirnn_cells_register_under_the_minirnn_package():
    for cls in (SimpleRNNCell, LSTMCell, GRUCell):
        assert registry.get_registered_object(f"minirnn>{cls.__name__}") is cls
        assert registry.registered_name(cls) == f"minirnn>{cls.__name__}"


def test_a_cell_defined_elsewhere_registers_as_custom(custom_cell):
    cls = custom_cell.PeepholeLSTMCell
    assert registry.get_registered_object("Custom>PeepholeLSTMCell") is cls
    assert issubclass(cls, Cell)


@pytest.mark.parametrize("cell, names", [
    (SimpleRNNCell(2), ["kernel", "recurrent_kernel", "bias"]),
    (LSTMCell(2, use_bias=False), ["kernel", "recurrent_kernel"]),
    (GRUCell(2), ["kernel", "recurrent_kernel", "bias"]),
])
def test_weights_are_declared_by_name(cell, names):
    """weight_shapes drives build and weights (Keras's order and shapes)."""
    cell.build(5)
    assert cell.weight_names == names
    shapes = {"kernel": (5, cell.gates * 2), "recurrent_kernel": (2, cell.gates * 2),
              "bias": (2, 6) if isinstance(cell, GRUCell) else (cell.gates * 2,)}
    assert [w.shape for w in cell.weights] == [shapes[name] for name in names]
    assert all(w is getattr(cell, name) for w, name in zip(cell.weights, names))


def test_lstm_forget_bias_starts_at_one():
    cell = LSTMCell(3, bias_initializer="zeros")
    cell.build(2)
    np.testing.assert_array_equal(cell.bias, [0, 0, 0, 1, 1, 1, 0, 0, 0, 0, 0, 0])


def test_weight_grads_must_name_every_weight():
    cell = SimpleRNNCell(2)
    cell.build(1)
    with pytest.raises(ValueError, match=r"SimpleRNNCell: weight_grads\(\) returned no gradient for \['bias'\]"):
        cell.ordered({"kernel": 0, "recurrent_kernel": 0})


def test_custom_cell_layer_saves_and_loads(custom_cell, tmp_path):
    """RNN(PeepholeLSTMCell) in a model: the file names the cell through the registry and the
    loaded model computes the same outputs."""
    mr.set_random_seed(0)
    model = custom_cell.build()
    model.compile(optimizer="adam", loss="huber")
    x = np.random.default_rng(0).normal(size=(4, custom_cell.WINDOW_SIZE)).astype("float32")
    model.fit(x, np.ones((4, 1), "float32"), epochs=1, verbose=0)
    path = str(tmp_path / "peephole.minirnn")
    model.save(path)
    loaded = mr.models.load_model(path, custom_objects={"add_channel": custom_cell.add_channel,
                                                       "times_100": custom_cell.times_100})
    cell = loaded.layers[1].cell
    assert type(cell) is custom_cell.PeepholeLSTMCell and cell.weight_names[-1] == "peephole"
    np.testing.assert_array_equal(loaded.predict(x, verbose=0), model.predict(x, verbose=0))


def test_unknown_cell_in_a_config_is_a_clear_error():
    config = RNN(SimpleRNNCell(2)).get_config()
    config["cell"] = {"class_name": "NoSuchCell", "registered_name": "Custom>NoSuchCell", "config": {"units": 2}}
    with pytest.raises(ValueError, match="unknown cell class 'NoSuchCell'"):
        RNN.from_config(config)


def test_custom_cell_passes_gradcheck_with_a_mask_and_recurrent_dropout(custom_cell):
    rng = np.random.default_rng(3)
    layer = RNN(custom_cell.PeepholeLSTMCell(2, peephole_initializer="random_normal"), return_sequences=True,
                recurrent_dropout=0.3, dtype="float64")
    x = rng.normal(size=(2, 4, 3))
    layer(x)
    fixed = layer.dropout_masks(2)
    layer.dropout_masks = lambda batch: fixed                   # the same dropout in every call
    mask = np.array([[1, 1, 0, 1], [1, 1, 1, 0]], bool)
    report = mr.gradcheck(layer, x, mask=mask, training=True)
    assert "dL/dpeephole" in report


def test_custom_cell_example_runs(custom_cell, capsys):
    """The example as a user runs it (two epochs): gradients check, and the model survives saving."""
    result = custom_cell.main(["--epochs", "2"])
    assert result["same_after_loading"]
    assert "WRONG" not in capsys.readouterr().out


def test_fast_path_lives_in_kernels_only():
    """Every minirnn cell's loops have a fused twin registered from minirnn/kernels/ (but the
    ConvLSTM cells', whose time is spent in convolution products), and no name defined there
    (the twins' helpers) is used anywhere else in the package."""
    import ast
    import pathlib
    import sys

    package = pathlib.Path(mr.__file__).parent
    for name in registry.registered_names("minirnn"):
        cls = registry.get_registered_object(name)
        if isinstance(cls, type) and issubclass(cls, Cell) and cls is not Cell \
                and not getattr(cls, "reads_frames", False):
            module = sys.modules[cls.__module__]
            for loop in (module.forward_loop, module.backward_loop):
                assert loop.source is not loop.py and loop.source.__module__.startswith("minirnn.kernels."), loop
    fast_only = set()
    for path in (package / "kernels").glob("*.py"):
        for node in ast.parse(path.read_text()).body:
            if isinstance(node, ast.FunctionDef) and not node.name.endswith("_fused"):
                fast_only.add(node.name)
    assert {"activate_sum", "activate_by_tanh", "derivative_by_polynomial"} <= fast_only
    for path in package.rglob("*.py"):
        if "kernels" in path.parts:
            continue
        used = {n.id for n in ast.walk(ast.parse(path.read_text())) if isinstance(n, ast.Name)}
        used |= {n.attr for n in ast.walk(ast.parse(path.read_text())) if isinstance(n, ast.Attribute)}
        assert not used & fast_only, f"{path.relative_to(package)} uses {sorted(used & fast_only)}"
