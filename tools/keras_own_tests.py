"""Keras's own unit tests for its recurrent, wrapper, normalization and lookup/text/hashing preprocessing layers,
run against minirnn.keras.

    PYTHONPATH=. python tools/keras_own_tests.py            # a table: file, passed, failed, why
    PYTHONPATH=. python tools/keras_own_tests.py --json     # the same as JSON (the test suite reads it)

The test files are read from the installed ``keras`` package
(``keras/src/layers/{rnn,normalization,preprocessing}/*_test.py``), never copied here, and run in a
process where ``keras`` is a shim: ``keras.src.layers`` is ``minirnn.keras.layers``,
``keras.src.ops`` / ``initializers`` / ``models`` likewise, and ``keras.src.testing.TestCase`` is
:class:`TestCase` below, written on minirnn's public API only.
Its ``run_layer_test`` checks what Keras's documents: output shapes and dtypes (eager and
symbolic), the numbers of trainable and non-trainable weights and of losses, masking support, a
training step, and config / serialization round trips.  Not checked, because minirnn has no such
objects: seed-generator variables (minirnn draws dropout masks from NumPy generators), sparse
tensors and mixed precision.
"""
import glob
import json
import os
import sys
import tempfile
import traceback
import types
import unittest
from importlib.util import find_spec

import numpy as np

NORMALIZATION = ["batch_normalization_test", "group_normalization_test", "layer_normalization_test",
                 "rms_normalization_test", "spectral_normalization_test", "unit_normalization_test"]
FILES = ["rnn_test", "simple_rnn_test", "lstm_test", "gru_test", "bidirectional_test", "stacked_rnn_cells_test",
         "time_distributed_test", "dropout_rnn_cell_test", "conv_lstm_test", "conv_lstm1d_test",
         "conv_lstm2d_test", "conv_lstm3d_test"]
PREPROCESSING = ["string_lookup_test", "integer_lookup_test", "text_vectorization_test", "hashing_test"]


def keras_source_dir():
    spec = find_spec("keras")                   # locates the package without importing it
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError("keras is not installed: its own tests are read from the installed package")
    return os.path.join(list(spec.submodule_search_locations)[0], "src", "layers", "rnn")


def _module(name, **attrs):
    module = types.ModuleType(name)
    module.__dict__.update(attrs)
    sys.modules[name] = module
    return module


def install_shim():
    """Make ``keras`` / ``keras.src.*`` names the test files import point at minirnn.keras."""
    import minirnn.keras as mk
    from minirnn import backend as mr_backend
    # Keras's parametrization helpers (named_product), NumPy only: read from the installed package too
    helpers = os.path.join(os.path.dirname(os.path.dirname(keras_source_dir())), "testing", "test_utils.py")

    def backend_name():
        return "tensorflow"                      # the tests' branches for the reference backend

    config = _module("keras.src.backend.config", floatx=mr_backend.floatx, epsilon=lambda: 1e-7,
                     backend=backend_name, image_data_format=lambda: "channels_last")
    backend = _module("keras.src.backend", config=config, backend=backend_name, floatx=mr_backend.floatx,
                      epsilon=lambda: 1e-7, standardize_dtype=lambda d: np.dtype(d).name,
                      convert_to_numpy=np.asarray, convert_to_tensor=np.asarray, is_tensor=lambda x: True,
                      KerasTensor=mk.layers.Layer)
    root = _module("keras", __path__=[], __version__="3-shim")
    src = _module("keras.src", __path__=[])
    layers = _module("keras.src.layers", __path__=[], **{k: getattr(mk.layers, k) for k in dir(mk.layers)
                                                          if not k.startswith("__")})
    for sub in ("rnn", "normalization", "preprocessing"):
        _module(f"keras.src.layers.{sub}", __path__=[])
    _conv_lstm_module(mk)
    testing = _module("keras.src.testing", __path__=[], TestCase=TestCase, tensorflow_uses_gpu=lambda: False,
                      jax_uses_gpu=lambda: False, torch_uses_gpu=lambda: False, uses_gpu=lambda: False)
    test_utils = _module("keras.src.testing.test_utils", __file__=helpers)
    with open(helpers, encoding="utf-8") as f:
        exec(compile(f.read(), helpers, "exec"), test_utils.__dict__)
    testing.test_utils = test_utils
    if "grain" not in sys.modules and find_spec("grain") is None:    # imported at the top of a few test files
        def _no_grain(name):
            if name.startswith("__"):
                raise AttributeError(name)
            raise ModuleNotFoundError(f"grain.{name}: the grain data library is not installed")
        _module("grain", __getattr__=_no_grain)
    mk.models.Functional = mk.Model           # Keras's class of functional models
    # keras.src.ops holds keras.src.random as ops.random
    ops = _module("keras.src.ops", **{k: getattr(mk.ops, k) for k in dir(mk.ops) if not k.startswith("__")},
                  random=mk.random)
    for name, target in (("initializers", mk.initializers), ("ops", ops), ("models", mk.models),
                         ("random", mk.random),
                         ("optimizers", mk.optimizers), ("losses", mk.losses), ("regularizers", mk.regularizers),
                         ("constraints", mk.constraints), ("saving", mk.saving), ("utils", mk.utils)):
        sys.modules[f"keras.src.{name}"] = target
        setattr(src, name, target)
    src.layers, src.backend, src.testing, src.Sequential = layers, backend, testing, mk.Sequential
    root.src = src
    for name in ("layers", "ops", "models", "initializers", "optimizers", "losses", "regularizers", "constraints",
                 "saving", "utils", "random"):
        setattr(root, name, getattr(mk, name))
    return mk


def _conv_lstm_module(mk):
    """``keras.src.layers.rnn.conv_lstm``: Keras's internal ``ConvLSTM(rank, ...)`` base class and
    ``ConvLSTMCell(rank, ...)``, with their constructor arguments, on minirnn's ConvLSTM1D/2D/3D.
    The cell's one step, ``cell(x_t, [h, c]) -> (h_t, [h_t, c_t])``, is minirnn's layer over a
    sequence of that one frame from those states (its cell, cells/conv_lstm.py, does the step)."""
    by_rank = {1: mk.layers.ConvLSTM1D, 2: mk.layers.ConvLSTM2D, 3: mk.layers.ConvLSTM3D}

    def ConvLSTM(rank, filters, kernel_size, **kwargs):     # noqa: N802  (Keras's class name)
        return by_rank[rank](filters, kernel_size, **kwargs)

    class ConvLSTMCell:
        def __init__(self, rank, filters, kernel_size, **kwargs):
            self.layer = by_rank[rank](filters, kernel_size, return_state=True, **kwargs)

        def __call__(self, inputs, states, training=False):
            _, h, c = self.layer(np.asarray(inputs)[:, None], initial_state=list(states), training=training)
            return h, [h, c]

    _module("keras.src.layers.rnn.conv_lstm", ConvLSTM=ConvLSTM, ConvLSTMCell=ConvLSTMCell)


try:                                      # Keras's TestCase is absl's parameterized one
    from absl.testing.parameterized import TestCase as _Base
except ImportError:                       # pragma: no cover
    _Base = unittest.TestCase


class TestCase(_Base):
    """Keras's ``testing.TestCase``, on minirnn's public API."""

    def get_temp_dir(self):
        path = tempfile.mkdtemp()
        self.addCleanup(lambda: __import__("shutil").rmtree(path, ignore_errors=True))
        return path

    def assertAllClose(self, x1, x2, atol=1e-6, rtol=1e-6, msg=None, tpu_atol=None, tpu_rtol=None):
        np.testing.assert_allclose(np.asarray(x1, float), np.asarray(x2, float), atol=atol, rtol=rtol,
                                   err_msg=msg or "")

    def assertNotAllClose(self, x1, x2, atol=1e-6, rtol=1e-6, msg=None):
        self.assertFalse(np.allclose(np.asarray(x1, float), np.asarray(x2, float), atol=atol, rtol=rtol), msg)

    def assertAllEqual(self, x1, x2, msg=None):
        np.testing.assert_array_equal(np.asarray(x1), np.asarray(x2), err_msg=msg or "")

    def assertLen(self, container, expected_len, msg=None):
        self.assertEqual(len(container), expected_len, msg)

    def assertDType(self, x, dtype, msg=None):
        self.assertEqual(np.asarray(x).dtype.name, np.dtype(dtype).name, msg)

    def run_class_serialization_test(self, instance, custom_objects=None):
        import minirnn.keras as mk
        config = instance.get_config()
        again = type(instance).from_config(config)
        self.assertEqual(again.get_config(), config)
        entry = mk.layers.serialize(instance)
        self.assertEqual(mk.layers.deserialize(entry, custom_objects=custom_objects).get_config(), config)

    def run_layer_test(self, layer_cls, init_kwargs, input_shape=None, input_dtype=None, input_sparse=False,
                       input_ragged=False, input_data=None, call_kwargs=None, expected_output_shape=None,
                       expected_output_dtype=None, expected_output_sparse=False, expected_output_ragged=False,
                       expected_output=None, expected_num_trainable_weights=None,
                       expected_num_non_trainable_weights=None, expected_num_non_trainable_variables=None,
                       expected_num_seed_generators=None, expected_num_losses=None, supports_masking=None,
                       expected_mask_shape=None, custom_objects=None, run_training_check=True,
                       run_mixed_precision_check=True, assert_built_after_instantiation=False,
                       tpu_atol=None, tpu_rtol=None):
        import minirnn.keras as mk
        call_kwargs = dict(call_kwargs or {})
        if input_sparse or input_ragged or expected_output_sparse or expected_output_ragged:
            self.skipTest("sparse and ragged tensors: minirnn has NumPy arrays only")
        layer = layer_cls(**init_kwargs)
        self.run_class_serialization_test(layer, custom_objects)
        if supports_masking is not None:
            self.assertEqual(layer.supports_masking, supports_masking, "supports_masking")
        rng = np.random.default_rng(0)

        def data(shape, dtype):
            if isinstance(shape, (list, tuple)) and shape and isinstance(shape[0], (list, tuple)):
                return [data(s, dtype) for s in shape]
            return rng.standard_normal(shape).astype(dtype or "float32")
        x = input_data if input_data is not None else data(input_shape, input_dtype)

        def shapes(out):
            return [shapes(o) for o in out] if isinstance(out, (list, tuple)) else tuple(np.shape(out))

        def expected(shape):
            if isinstance(shape, dict):
                return {k: expected(v) for k, v in shape.items()}
            return [expected(s) for s in shape] if isinstance(shape, list) else tuple(shape)
        out = layer(x, **call_kwargs)
        if expected_output_shape is not None:
            got = shapes(out)
            want = expected(expected_output_shape)
            self.assertEqual(got if not isinstance(want, tuple) or isinstance(got, tuple) else got,
                             want if not isinstance(want, list) else [tuple(s) for s in want], "eager output shape")
        if expected_output_dtype is not None:
            self.assertEqual(np.asarray(out[0] if isinstance(out, list) else out).dtype.name, expected_output_dtype)
        if expected_output is not None:
            self.assertAllClose(out, expected_output, atol=1e-5, rtol=1e-5)
        if expected_num_trainable_weights is not None:
            self.assertLen(layer.trainable_weights, expected_num_trainable_weights, "trainable weights")
        if expected_num_non_trainable_weights is not None:
            self.assertLen(layer.non_trainable_weights, expected_num_non_trainable_weights, "non-trainable weights")
        if expected_num_losses is not None:
            self.assertLen(layer.losses, expected_num_losses, "losses")
        # the same layer class called on symbolic tensors
        sym_layer = layer_cls(**init_kwargs)
        inputs = ([mk.Input(batch_shape=s) for s in input_shape] if isinstance(x, list)
                  else mk.Input(batch_shape=np.shape(x), dtype=np.asarray(x).dtype.name))
        sym_kwargs = {k: v for k, v in call_kwargs.items() if k != "training"}
        sym = sym_layer(inputs, **sym_kwargs)
        if expected_output_shape is not None:
            got = [tuple(t.shape) for t in sym] if isinstance(sym, list) else tuple(sym.shape)
            self.assertEqual(got, expected(expected_output_shape), "symbolic output shape")
        if run_training_check and not isinstance(out, (list, dict)) and not isinstance(x, list):
            model = mk.Model(inputs, sym)
            model.compile(optimizer="sgd", loss="mse")
            model.fit(x, np.zeros(np.shape(out), "float32"), batch_size=len(x), epochs=1, verbose=0)


_MIXED = "mixed precision (backend.AutocastScope, float16 policies): minirnn computes in float32 or float64 only"
_ASSIGN = ("backend machinery: sets weights with Variable.assign(); minirnn's weights are NumPy arrays "
           "(set_weights, in place); its own renorm tests compare these numbers with Keras's")
_FUSED = ("backend machinery: Keras's private fused cuDNN dispatch (_can_attempt_fused_*, weights as backend "
          "variables with assign()); minirnn has one CPU implementation")
_TF_DATA = ("backend machinery: tf.data's Dataset.map traces the layer with tf.function on symbolic tf.Tensors; "
            "minirnn's preprocessing layers run on NumPy arrays (adapt() takes datasets)")
_SPARSE = "sparse tensors (tf.SparseTensor in or out): minirnn has dense NumPy arrays only"
_RAGGED = "ragged tensors (tf.RaggedTensor out): minirnn has NumPy arrays only, padded to output_sequence_length"
#: Every test of these files that does not pass against minirnn.keras, and why.  The test suite
#: checks the list both ways: a test not listed must pass, a listed one must still fail.
CANNOT_PASS = {
    "gru_test::test_stateful_with_symbolic_batch_size":
        "backend machinery: calls the layer inside tf.function on a symbolic tf.Tensor",
    "bidirectional_test::test_fused_gru_eligibility": _FUSED,
    "bidirectional_test::test_fused_lstm_eligibility": _FUSED,
    "bidirectional_test::test_fused_gru_matches_unfused": _FUSED,
    "bidirectional_test::test_fused_lstm_matches_unfused": _FUSED,
    "dropout_rnn_cell_test::<import>":
        ("Keras-internal module keras.src.layers.rnn.dropout_rnn_cell (DropoutRNNCell is not in keras's public "
         "API); its two tests count the cell's backend.random.SeedGenerator state as a non-trainable variable "
         "and run it in mixed_float16: backend machinery minirnn does not have"),
    "batch_normalization_test::test_large_value_within_autocast_scope": _MIXED,
    "batch_normalization_test::test_renorm_correctness": _ASSIGN,
    "batch_normalization_test::test_renorm_inference": _ASSIGN,
    "group_normalization_test::test_large_value_within_autocast_scope": _MIXED,
    "group_normalization_test::test_mixed_precision_large_input_no_nan": _MIXED,
    "layer_normalization_test::test_large_value_within_autocast_scope": _MIXED,
    "string_lookup_test::test_tf_data_compatibility": _TF_DATA,
    "integer_lookup_test::test_tf_data_compatibility": _TF_DATA,
    "text_vectorization_test::test_tf_data_compatibility": _TF_DATA,
    "text_vectorization_test::test_static_output_sequence_length_from_dense": _TF_DATA,
    "text_vectorization_test::test_static_output_sequence_length_from_ragged": _TF_DATA,
    "string_lookup_test::test_sparse_inputs": _SPARSE,
    "string_lookup_test::test_sparse_output_in_multi_hot": _SPARSE,
    "integer_lookup_test::test_sparse_output": _SPARSE,
    "text_vectorization_test::test_sparse_output": _SPARSE,
    "text_vectorization_test::test_ragged_tensor": _RAGGED,
    "text_vectorization_test::test_ragged_tensor_output_length": _RAGGED,
    "string_lookup_test::test_torch_backend_compatibility":
        "backend machinery: expects torch.Tensor outputs (Keras's torch backend); minirnn returns NumPy arrays",
    **{f"hashing_test::test_hash_sparse_{name}": _SPARSE
       for name in ("input_farmhash", "input_mask_value_farmhash", "input_siphash", "int_input_farmhash",
                    "int_input_siphash")},
    "hashing_test::test_tf_data_compatibility": _TF_DATA,
}


def run(files=FILES + NORMALIZATION + PREPROCESSING):
    """{file: {"passed": [...], "failed": {test: reason}, "skipped": {test: reason}}}; skipped:
    what Keras's own markers skip on its TensorFlow backend without a GPU."""
    folder = keras_source_dir()
    install_shim()
    results = {}
    for name in files:
        sub = ("normalization" if name in NORMALIZATION else "preprocessing" if name in PREPROCESSING
               else "rnn")
        path = os.path.join(os.path.dirname(folder), sub, f"{name}.py")
        entry = results[name] = {"passed": [], "failed": {}, "skipped": {}}
        module = _module(f"keras.src.layers.{sub}.{name}", __file__=path)
        try:
            with open(path, encoding="utf-8") as f:
                exec(compile(f.read(), path, "exec"), module.__dict__)
        except Exception as error:             # noqa: BLE001  an import the shim lacks: the whole file
            entry["failed"]["<import>"] = f"{type(error).__name__}: {error}"[:300]
            continue
        tests = list(_flatten(unittest.defaultTestLoader.loadTestsFromModule(module)))
        names = [test.id()[len(module.__name__) + 1:] for test in tests]        # Class.test, with its parameters
        methods = [name.partition(".")[2] for name in names]
        for test, name, method in zip(tests, names, methods):
            outcome = unittest.TestResult()
            test.run(outcome)
            test_name = method if methods.count(method) == 1 else name   # the class too, where two share a name
            problems = outcome.errors + outcome.failures
            if problems:
                entry["failed"][test_name] = _reason(problems[0][1])
            elif outcome.skipped:
                entry["skipped"][test_name] = outcome.skipped[0][1][:200]
            else:
                entry["passed"].append(test_name)
    return results


def _flatten(suite):
    for item in suite:
        if isinstance(item, unittest.TestSuite):
            yield from _flatten(item)
        else:
            yield item


def _reason(text):
    lines = [line for line in text.strip().splitlines() if line.strip()]
    return lines[-1][:300] if lines else "?"


if __name__ == "__main__":
    found = run()
    if "--json" in sys.argv:
        print(json.dumps(found))
    else:
        passed = sum(len(r["passed"]) for r in found.values())
        failed = sum(len(r["failed"]) for r in found.values())
        for name, r in found.items():
            print(f"{name:28s} {len(r['passed']):3d} passed {len(r['failed']):3d} failed "
                  f"{len(r['skipped']):3d} skipped")
            for test, why in r["failed"].items():
                print(f"    {test}: {CANNOT_PASS.get(f'{name}::{test}', 'NOT LISTED: ' + why)}")
            for test, why in r["skipped"].items():
                print(f"    {test}: skipped (as on Keras's TensorFlow backend): {why}")
        print(f"{passed} of {passed + failed} passed ({sum(len(r['skipped']) for r in found.values())} skipped)")
