"""A masked sequence output leaves its padded steps out of the loss and the metrics, as in Keras."""
import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import keras  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402

import minirnn as mr  # noqa: E402

T, VOCAB = 7, 6


def padded_batch(rng, n=24):
    x = rng.integers(1, VOCAB, size=(n, T))
    lengths = rng.integers(2, T + 1, size=n)
    x[np.arange(T)[None, :] >= lengths[:, None]] = 0          # right padding, id 0
    return x.astype("float32")


def build(lib, head):
    layers = lib.layers
    return [layers.Embedding(VOCAB, 4, mask_zero=True), layers.LSTM(5, return_sequences=True), head(layers)]


CASES = {
    "sparse_ce": (lambda L: L.Dense(3, activation="softmax"), "sparse_categorical_crossentropy", ["accuracy"],
                  lambda rng, n: rng.integers(0, 3, size=(n, T))),
    "mse": (lambda L: L.Dense(2), "mse", ["mae"], lambda rng, n: rng.standard_normal((n, T, 2)).astype("float32")),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_masked_sequence_loss_and_fit_match_keras(case):
    head, loss, metrics, targets = CASES[case]
    rng = np.random.default_rng(11)
    x = padded_batch(rng)
    y = targets(rng, len(x))
    k = keras.Sequential([keras.Input((T,))] + build(keras, head))
    m = mr.Sequential([mr.Input(shape=(T,))] + build(mr, head))
    k.set_weights([rng.normal(0.0, 0.5, w.shape).astype(w.dtype) for w in k.get_weights()])   # biases too
    m.set_weights(k.get_weights())
    for model in (k, m):
        opt = (keras if model is k else mr).optimizers.SGD(learning_rate=0.5, momentum=0.9)
        model.compile(optimizer=opt, loss=loss, metrics=metrics)
    k_eval = k.evaluate(x, y, batch_size=8, verbose=0, return_dict=True)
    m_eval = m.evaluate(x, y, batch_size=8, verbose=0, return_dict=True)
    for key in k_eval:
        np.testing.assert_allclose(m_eval[key], k_eval[key], rtol=1e-5, err_msg=key)
    k_hist = k.fit(x, y, batch_size=8, epochs=3, shuffle=False, verbose=0).history
    m_hist = m.fit(x, y, batch_size=8, epochs=3, shuffle=False, verbose=0).history
    for key in k_hist:
        np.testing.assert_allclose(m_hist[key], k_hist[key], rtol=1e-4, err_msg=key)
    for a, b in zip(m.get_weights(), k.get_weights()):
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-6)
    # The padding really is left out: the unmasked loss differs.
    unmasked = mr.losses.get(loss)(y, m.predict(x, verbose=0))
    assert abs(unmasked - m.evaluate(x, y, verbose=0, return_dict=True)["loss"]) > 1e-4


def test_output_mask_must_match_the_predictions():
    with pytest.raises(ValueError, match=r"output mask must have shape \(2, 3\).*received \(2, 4\)"):
        mr.losses.MeanSquaredError().value_and_gradient(np.zeros((2, 3, 1)), np.zeros((2, 3, 1)),
                                                        mask=np.ones((2, 4), bool))
