"""Sequential: training loop behaviour, reproducibility, shapes, the summary table; Sequential is a
Model whose graph is a chain."""
import io
from contextlib import redirect_stdout

import numpy as np
import pytest

import minirnn as mr
from minirnn.callbacks import Callback
from minirnn.data import windowed_dataset
from minirnn.layers import GRU, LSTM, Dense, Lambda, SimpleRNN


def course_model(units=8):
    return mr.Sequential([Lambda(lambda x: np.expand_dims(x, -1), input_shape=[None]),
                          SimpleRNN(units, return_sequences=True), SimpleRNN(units), Dense(1),
                          Lambda(lambda x: x * 100.0)])


def toy_data(n=96, steps=12, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n, steps)).astype("float32")
    return x, x[:, -3:].mean(axis=1) * 0.5


def train(seed, data):
    mr.set_random_seed(seed)
    model = course_model()
    model.compile(optimizer=mr.optimizers.SGD(1e-4, momentum=0.9), loss="huber", metrics=["mae"])
    history = model.fit(data, epochs=3, verbose=0)
    return model.get_weights(), history.history["loss"]


def test_same_seed_same_initialisation_shuffling_and_result():
    series = np.sin(np.arange(300) / 10).astype("float32") * 0.1
    data = windowed_dataset(series, 10, 16, 100, seed=None)
    w1, loss1 = train(7, data)
    w2, loss2 = train(7, data)
    w3, _ = train(8, data)
    assert loss1 == loss2
    assert all(np.array_equal(a, b) for a, b in zip(w1, w2))
    assert not all(np.array_equal(a, b) for a, b in zip(w1, w3))


def test_fit_lowers_the_loss_and_reports_every_epoch():
    x, y = toy_data()
    mr.set_random_seed(0)
    model = mr.Sequential([Lambda(lambda x: x[..., None], input_shape=[12]), GRU(16), Dense(1)])
    model.compile(optimizer=mr.optimizers.SGD(0.05, momentum=0.9), loss="mse", metrics=["mae"])
    history = model.fit(x, y, epochs=15, batch_size=16, verbose=0, validation_data=(x[:32], y[:32]))
    assert set(history.history) == {"loss", "mae", "val_loss", "val_mae"}
    assert len(history.history["loss"]) == 15 and history.epoch == list(range(15))
    assert history.history["loss"][-1] < 0.5 * history.history["loss"][0]
    loss, mae = model.evaluate(x[:32], y[:32], verbose=0)
    assert loss == pytest.approx(history.history["val_loss"][-1], rel=1e-6)
    assert mae == pytest.approx(np.mean(np.abs(model.predict(x[:32]).ravel() - y[:32])), rel=1e-5)


def test_predict_batches_agree_with_one_call_and_variable_length_works():
    x, _ = toy_data(n=70)
    mr.set_random_seed(1)
    model = course_model()
    whole = model(x)
    assert np.allclose(model.predict(x, batch_size=16), whole, atol=1e-5)
    assert model.predict(x[:, :5]).shape == (70, 1)          # shorter sequences, same model
    assert model.predict(x[:1]).shape == (1, 1)


def test_callbacks_see_every_batch_and_can_stop_training():
    x, y = toy_data(n=40)
    seen = []

    class Stopper(Callback):
        def on_train_batch_end(self, batch, logs=None):
            seen.append(batch)

        def on_epoch_end(self, epoch, logs=None):
            if epoch == 1:
                self.model.stop_training = True

    model = mr.Sequential([Lambda(lambda x: x[..., None], input_shape=[12]), LSTM(4), Dense(1)])
    model.compile(optimizer="sgd", loss="mae")
    history = model.fit(x, y, epochs=10, batch_size=16, verbose=0, callbacks=[Stopper()])
    assert len(history.history["loss"]) == 2
    assert seen == [0, 1, 2, 0, 1, 2]


def test_verbose_one_prints_a_progress_line_per_epoch_and_zero_prints_nothing():
    x, y = toy_data(n=32)
    model = course_model(4)
    model.compile(optimizer=mr.optimizers.SGD(1e-6), loss="mse", metrics=["mae"])
    out = io.StringIO()
    with redirect_stdout(out):
        model.fit(x, y, epochs=2, batch_size=16, verbose=1)
    text = out.getvalue()
    assert "Epoch 1/2" in text and "Epoch 2/2" in text and "2/2" in text
    assert "loss:" in text and "mae:" in text
    out = io.StringIO()
    with redirect_stdout(out):
        model.fit(x, y, epochs=2, batch_size=16, verbose=0)
    assert out.getvalue() == ""


def test_summary_counts_parameters_like_the_formulas():
    model = mr.Sequential([mr.Input(shape=(None, 32)), SimpleRNN(32)])
    out = io.StringIO()
    model.summary(print_fn=lambda s: out.write(s))
    # SimpleRNN: D*n + n*n + n = 32*32 + 32*32 + 32
    assert "Total params: 2,080" in out.getvalue()
    assert "(None, 32)" in out.getvalue()
    lstm = mr.Sequential([mr.Input(shape=(20, 3)), LSTM(5, return_sequences=True), GRU(4), Dense(2)])
    assert lstm.count_params() == 4 * (3 * 5 + 5 * 5 + 5) + 3 * (5 * 4 + 4 * 4) + 2 * 3 * 4 + (4 * 2 + 2)


def test_weights_round_trip_between_models():
    a, b = course_model(), course_model()
    x, _ = toy_data(n=8)
    a(x), b(x)
    b.set_weights(a.get_weights())
    assert np.array_equal(a.predict(x), b.predict(x))
    with pytest.raises(ValueError, match="expects 8 weight arrays, received 7"):
        b.set_weights(a.get_weights()[:-1])


def test_sequential_trains_exactly_like_the_same_functional_chain():
    x, y = toy_data(n=40)
    mr.set_random_seed(3)
    stack = mr.Sequential([mr.Input(shape=(12,)), Lambda(lambda v: v[..., None]), GRU(5), Dense(1)])
    inputs = mr.Input(shape=(12,))
    h = Lambda(lambda v: v[..., None])(inputs)
    chain = mr.Model(inputs, Dense(1)(GRU(5)(h)))
    chain.set_weights(stack.get_weights())
    assert isinstance(stack, mr.Model) and len(stack.layers) == 3 and len(chain.layers) == 4   # + its Input
    histories = []
    for model in (stack, chain):
        model.compile(optimizer=mr.optimizers.Adam(0.01), loss="mse", metrics=["mae"])
        histories.append(model.fit(x, y, epochs=2, batch_size=16, shuffle=False, verbose=0).history)
    assert histories[0] == histories[1]
    assert all(np.array_equal(a, b) for a, b in zip(stack.get_weights(), chain.get_weights()))


def test_sequential_without_input_builds_from_the_first_data_and_keeps_lengths_free():
    mr.set_random_seed(0)
    model = mr.Sequential([LSTM(3), Dense(1)])
    out = io.StringIO()
    model.summary(print_fn=out.write)
    assert "0 (unbuilt)" in out.getvalue() and "?" in out.getvalue()
    x = np.zeros((4, 7, 2), "float32")
    assert model.predict(x).shape == (4, 1)
    assert model.predict(np.zeros((2, 3, 2), "float32")).shape == (2, 1)      # another length
    assert model.output_shapes() == [(None, 3), (None, 1)]


def test_sequential_layers_keep_their_order_add_and_pop():
    model = mr.Sequential([mr.Input(shape=(5,)), Dense(3)])
    model.add(Dense(2))
    assert [type(layer).__name__ for layer in model.layers] == ["Dense", "Dense"]
    assert model.predict(np.ones((2, 5), "float32")).shape == (2, 2)
    model.pop()
    assert model.predict(np.ones((2, 5), "float32")).shape == (2, 3)
    with pytest.raises(ValueError, match="an Input must come first"):
        model.add(mr.Input(shape=(5,)))
