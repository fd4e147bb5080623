r"""A cell of your own, in one file: a peephole LSTM (Gers & Schmidhuber, 2000).

The gates also look at the cell state ("peepholes" p_i, p_f, p_o, one weight per unit):

    F1  [a_i a_f a_c a_o] = x_t W + h_{t-1} U + b
    F2  i = sigma(a_i + p_i * c_{t-1}),  f = sigma(a_f + p_f * c_{t-1}),  g = phi(a_c)
    F3  c_t = f * c_{t-1} + i * g
    F4  o = sigma(a_o + p_o * c_t)
    F5  h_t = o * phi(c_t)
    F6  masked steps (m_t = 0) keep both states: s_t = s_{t-1} + m_t (s_new - s_{t-1})

Backward, for t = T..1, from dh_next = dL/dh_T and dc_next = dL/dc_T:

    B1  dh = m_t (dL/dh_t (output) + dh_next)
    B2  da_o = dh * phi(c_t) * sigma'(o)
    B3  dc = m_t dc_next + dh * o * phi'(c_t) + da_o * p_o        (c_t reaches h_t through o too)
    B4  da_i = dc * g * sigma'(i),  da_f = dc * c_{t-1} * sigma'(f),  da_c = dc * i * phi'(g)
    B5  dc_next = dc * f + da_i * p_i + da_f * p_f + (1 - m_t) dc_next
        dh_next = [da_i da_f da_c da_o] U^T + (1 - m_t)(dL/dh_t + dh_next)
    B6  dp_i = sum da_i * c_{t-1},  dp_f = sum da_f * c_{t-1},  dp_o = sum da_o * c_t
        dW, dU, db, dx_t as in minirnn/cells/lstm.py (one product each, after the loop)

What it takes: a Cell subclass with its weights declared by name (``weight_shapes``),
a forward that returns (H, final_states, cache) and a ``backward_phases`` that returns
(dX, dstates0, weight_grads); see minirnn/cells/base.py.  Defining the class registers
it, so the model below trains, passes minirnn.gradcheck, saves and loads with no
change to minirnn.  These loops are plain NumPy (no Numba twin): fine for a course
series, slower than minirnn's own cells on big data.

    python examples/custom_cell.py [--epochs N]
"""
import argparse
import os
import tempfile
from typing import NamedTuple

import numpy as np

import minirnn as mr
from minirnn.activations import activate, derivative
from minirnn.cells import Cell
from minirnn.cells.base import recurrent_grad, recurrent_product
from minirnn.data import synthetic_series, windowed_dataset
from minirnn.layers import RNN, Dense, Lambda

SPLIT_TIME = 1000          # the course series and windows (examples/course_week3.py)
WINDOW_SIZE = 20
BATCH_SIZE = 32
UNITS = 16
EPOCHS = 60
LEARNING_RATE = 1e-3
SEED = 42


def forward_loop(XW, U, P, h0, c0, act, rec_act, mask, R):
    """F1-F6 over all steps.  Returns (gates, C_new, C, H): C_new is c_t before masking."""
    T, B, width = XW.shape
    n = width // 4
    p_i, p_f, p_o = P
    gates = np.empty_like(XW)                       # activated [i f g o]
    C_new = np.empty((T, B, n), XW.dtype)
    C = np.empty((T, B, n), XW.dtype)               # carried c_t
    H = np.empty((T, B, n), XW.dtype)               # carried h_t
    h, c = h0, c0
    for t in range(T):
        a = XW[t] + recurrent_product(h, U, R)      # F1
        a_i, a_f, a_c, a_o = a[:, :n], a[:, n:2 * n], a[:, 2 * n:3 * n], a[:, 3 * n:]
        i = activate(a_i + p_i * c, rec_act)        # F2
        f = activate(a_f + p_f * c, rec_act)
        g = activate(a_c, act)
        c_new = f * c + i * g                       # F3
        o = activate(a_o + p_o * c_new, rec_act)    # F4
        h_new = o * activate(c_new, act)            # F5
        if mask.shape[0]:                           # F6
            h = h + mask[t] * (h_new - h)
            c = c + mask[t] * (c_new - c)
        else:
            h, c = h_new, c_new
        gates[t] = np.concatenate([i, f, g, o], axis=1)
        C_new[t], C[t], H[t] = c_new, c, h
    return gates, C_new, C, H


def backward_loop(gates, C_new, C, c0, U, P, dH, dh_T, dc_T, act, rec_act, mask, R):
    """B1-B5 over all steps, last to first.  Returns (dA, dP, dh0, dc0)."""
    T, B, n = C.shape
    p_i, p_f, p_o = P
    dA = np.empty_like(gates)
    dP = np.zeros_like(P)
    UT = np.ascontiguousarray(U.T)
    dh_next, dc_next = dh_T, dc_T
    for t in range(T - 1, -1, -1):
        i, f, g, o = gates[t, :, :n], gates[t, :, n:2 * n], gates[t, :, 2 * n:3 * n], gates[t, :, 3 * n:]
        m = mask[t] if mask.shape[0] else 1.0
        c_prev = C[t - 1] if t > 0 else c0
        c_new = C_new[t]
        phi_c = activate(c_new, act)
        dh_out = dH[t] + dh_next
        dh = m * dh_out                                                     # B1
        da_o = dh * phi_c * derivative(o, rec_act)                          # B2
        dc = m * dc_next + dh * o * derivative(phi_c, act) + da_o * p_o     # B3
        da_i = dc * g * derivative(i, rec_act)                              # B4
        da_f = dc * c_prev * derivative(f, rec_act)
        da_c = dc * i * derivative(g, act)
        dA[t] = np.concatenate([da_i, da_f, da_c, da_o], axis=1)
        dc_next = dc * f + da_i * p_i + da_f * p_f + (1 - m) * dc_next      # B5
        dh_next = recurrent_grad(dA[t], UT, R) + (1 - m) * dh_out
        dP += np.stack([np.sum(da_i * c_prev, 0), np.sum(da_f * c_prev, 0), np.sum(da_o * c_new, 0)])   # B6
    return dA, dP, dh_next, dc_next


class PeepholeCache(NamedTuple):
    X: np.ndarray
    h0: np.ndarray
    c0: np.ndarray
    gates: np.ndarray
    C_new: np.ndarray
    C: np.ndarray
    H: np.ndarray
    mask: np.ndarray
    R: np.ndarray
    input_masks: list


class PeepholeLSTMCell(Cell):
    """An LSTM whose gates see the cell state; weights kernel, recurrent_kernel, bias, peephole."""

    gates = 4
    gate_names = ("i", "f", "g", "o")
    state_names = ("h", "c")

    def __init__(self, units, peephole_initializer="zeros", **kwargs):
        super().__init__(units, **kwargs)
        self.peephole_initializer = mr.initializers.get(peephole_initializer)

    def weight_shapes(self, input_dim):
        return {**super().weight_shapes(input_dim), "peephole": (3, self.units)}   # rows p_i, p_f, p_o

    def forward(self, X, states, mask, R, input_masks=None):
        h0, c0 = states
        gates, C_new, C, H = forward_loop(self.project(X, input_masks), self.recurrent_kernel, self.peephole,
                                          h0, c0, self.activation, self.recurrent_activation, mask, R)
        return H, [H[-1], C[-1]], PeepholeCache(X, h0, c0, gates, C_new, C, H, mask, R, input_masks)

    def backward_phases(self, cache, dH, dstates):
        dh_T, dc_T = dstates
        dA, dP, dh0, dc0 = backward_loop(cache.gates, cache.C_new, cache.C, cache.c0, self.recurrent_kernel,
                                         self.peephole, dH, dh_T, dc_T, self.activation,
                                         self.recurrent_activation, cache.mask, cache.R)

        def weight_grads():
            dW, db = self.kernel_grads(cache.X, dA, cache.input_masks)
            dU = self.recurrent_kernel_grad(self.previous(cache.H, cache.h0), dA, cache.R)
            return dict(kernel=dW, recurrent_kernel=dU, bias=db, peephole=dP)
        return self.input_grad(dA, cache.input_masks), [dh0, dc0], weight_grads


def add_channel(x):
    return x[..., None]


def times_100(x):
    return x * 100.0


def build():
    """The course's shape of model (module-level functions in the Lambdas, so the file can name them)."""
    return mr.Sequential([
        Lambda(add_channel, input_shape=[WINDOW_SIZE]),
        RNN(PeepholeLSTMCell(UNITS)),
        Dense(1),
        Lambda(times_100),
    ])


def check_gradients():
    """minirnn.gradcheck on the cell alone and inside a layer with a mask (float64)."""
    rng = np.random.default_rng(0)
    cell = PeepholeLSTMCell(3, dtype="float64", peephole_initializer="random_normal")
    print("cell:\n" + str(mr.gradcheck(cell, rng.normal(size=(5, 2, 2)))))
    layer = RNN(PeepholeLSTMCell(3, peephole_initializer="random_normal"), return_sequences=True,
                return_state=True, dtype="float64")
    x, mask = rng.normal(size=(2, 5, 2)), np.array([[1, 1, 1, 1, 0], [0, 1, 1, 1, 1]], bool)
    states = [rng.normal(size=(2, 3)) for _ in range(2)]
    print("layer with a mask:\n" + str(mr.gradcheck(layer, x, initial_state=states, mask=mask)))


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=EPOCHS)
    args = parser.parse_args(argv)

    check_gradients()
    mr.set_random_seed(SEED)
    _, series = synthetic_series(seed=SEED)
    train = windowed_dataset(series[:SPLIT_TIME], WINDOW_SIZE, BATCH_SIZE, 1000, seed=SEED)
    windows = np.lib.stride_tricks.sliding_window_view(series[SPLIT_TIME - WINDOW_SIZE:-1], WINDOW_SIZE)
    x_valid = series[SPLIT_TIME:]
    model = build()
    model.compile(loss="huber", optimizer=mr.optimizers.Adam(LEARNING_RATE), metrics=["mae"])
    model.fit(train, epochs=args.epochs, verbose=0)
    predicted = model.predict(windows, verbose=0).squeeze()
    mae = float(np.mean(np.abs(predicted - x_valid)))
    naive = float(np.mean(np.abs(series[SPLIT_TIME - 1:-1] - x_valid)))
    print(f"peephole LSTM({UNITS}), {args.epochs} epochs: validation MAE {mae:.2f} (naive forecast {naive:.2f})")

    with tempfile.TemporaryDirectory() as folder:
        path = os.path.join(folder, "peephole.minirnn")
        model.save(path)
        loaded = mr.models.load_model(path, custom_objects={"add_channel": add_channel, "times_100": times_100})
        same = np.array_equal(loaded.predict(windows, verbose=0).squeeze(), predicted)
    print(f"saved and loaded: {type(loaded.layers[1].cell).__name__}, same forecasts: {same}")
    return dict(mae=mae, naive=naive, same_after_loading=same)


if __name__ == "__main__":
    main()
