r"""One LSTM, by hand: every number of the forward and backward pass, beside its equation.

A batch of 2 sequences, 3 steps, 1 feature, 2 units, float64.  The forward pass prints, for
the first sequence, the equations of minirnn/cells/lstm.py with their numbers; the backward
pass does backpropagation through time by hand for L = sum(h_T * dL/dh_T).  Then three checks:

  1. the hand-written forward equals minirnn.LSTM's output for the same weights;
  2. the hand-written backward passes minirnn.gradcheck (central differences);
  3. it equals minirnn.LSTM's backward (dL/dx, dW, dU, db).

    python examples/lstm_by_hand.py
"""
import numpy as np

import minirnn as mr

BATCH, STEPS, FEATURES, UNITS = 2, 3, 1, 2
SEED = 0
np.set_printoptions(precision=4, suppress=True)


def sigmoid(a):
    return 1 / (1 + np.exp(-a))


def show(tag, equation, value, verbose):
    if verbose:
        print(f"  {tag:<3} {equation:<36} = {np.array2string(value[0], precision=4)}")


def forward(x, W, U, b, verbose=False):
    """F1-F4 of cells/lstm.py for every step; returns h_T and what backward needs."""
    n = UNITS
    h = np.zeros((x.shape[0], n))
    c = np.zeros((x.shape[0], n))
    steps = []
    for t in range(x.shape[1]):
        if verbose:
            print(f"step t = {t + 1}, x_t = {x[0, t]}")
        a = x[:, t] @ W + h @ U + b
        a_i, a_f, a_c, a_o = a[:, :n], a[:, n:2 * n], a[:, 2 * n:3 * n], a[:, 3 * n:]
        show("F1", "[a_i a_f a_c a_o] = x_t W + h U + b", a, verbose)
        i, f, g, o = sigmoid(a_i), sigmoid(a_f), np.tanh(a_c), sigmoid(a_o)
        show("F2", "i = sigmoid(a_i)", i, verbose)
        show("", "f = sigmoid(a_f)", f, verbose)
        show("", "g = tanh(a_c)", g, verbose)
        show("", "o = sigmoid(a_o)", o, verbose)
        c_prev, h_prev = c, h
        c = f * c_prev + i * g
        show("F3", "c_t = f * c_{t-1} + i * g", c, verbose)
        h = o * np.tanh(c)
        show("F4", "h_t = o * tanh(c_t)", h, verbose)
        steps.append(dict(x=x[:, t], h_prev=h_prev, c_prev=c_prev, i=i, f=f, g=g, o=o, c=c))
    return h, steps


def backward(dh_T, x, W, U, b, verbose=False):
    """B1-B5 of cells/lstm.py by hand: (dx, dW, dU, db) for L = sum(h_T * dh_T)."""
    _, steps = forward(x, W, U, b)
    dW, dU, db = np.zeros_like(W), np.zeros_like(U), np.zeros_like(b)
    dx = np.zeros_like(x)
    dh_next, dc_next = dh_T, np.zeros_like(dh_T)
    for t in range(len(steps) - 1, -1, -1):
        s = steps[t]
        if verbose:
            print(f"step t = {t + 1}")
        dh = dh_next                                     # no output at t < T: only the later steps
        show("B1", "dh = dL/dh_t", dh, verbose)
        dc = dc_next + dh * s["o"] * (1 - np.tanh(s["c"]) ** 2)
        show("B2", "dc = dc_next + dh o tanh'(c_t)", dc, verbose)
        da_i = dc * s["g"] * s["i"] * (1 - s["i"])
        da_f = dc * s["c_prev"] * s["f"] * (1 - s["f"])
        da_c = dc * s["i"] * (1 - s["g"] ** 2)
        da_o = dh * np.tanh(s["c"]) * s["o"] * (1 - s["o"])
        da = np.concatenate([da_i, da_f, da_c, da_o], axis=1)
        show("B3", "[da_i da_f da_c da_o]", da, verbose)
        dc_next = dc * s["f"]
        dh_next = da @ U.T
        show("B4", "dc_next = dc * f", dc_next, verbose)
        show("", "dh_next = da U^T", dh_next, verbose)
        dW += s["x"].T @ da                              # B5, summed over the steps
        dU += s["h_prev"].T @ da
        db += da.sum(axis=0)
        dx[:, t] = da @ W.T
    return dx, dW, dU, db


def main():
    rng = np.random.default_rng(SEED)
    x = rng.normal(size=(BATCH, STEPS, FEATURES))
    layer = mr.LSTM(UNITS, dtype="float64")
    layer(x)                                             # build, then random weights for every gate
    layer.set_weights([rng.normal(0, 0.7, w.shape) for w in layer.get_weights()])
    W, U, b = layer.get_weights()
    dh_T = rng.normal(size=(BATCH, UNITS))               # dL/dh_T: L = sum(h_T * dh_T)

    print("forward, first sequence of the batch (cells/lstm.py, F1-F4)")
    h_T, _ = forward(x, W, U, b, verbose=True)
    print("\nbackward by hand (B1-B5), from dL/dh_T =", dh_T[0])
    dx, dW, dU, db = backward(dh_T, x, W, U, b, verbose=True)

    print("\n1. forward against minirnn.LSTM: largest difference",
          f"{np.max(np.abs(layer(x, training=True) - h_T)):.1e}")
    report = mr.gradcheck(lambda x, W, U, b: forward(x, W, U, b)[0], [x, W, U, b],
                          backward=lambda dy, x, W, U, b: backward(dy, x, W, U, b), input_names=["x", "W", "U", "b"])
    print("2. the hand-written backward against central differences (minirnn.gradcheck):")
    print(report)
    layer_dx = layer.backward(dh_T)
    differences = {name: float(np.max(np.abs(mine - theirs)))
                   for name, mine, theirs in zip(("dx", "dW", "dU", "db"), (dx, dW, dU, db), [layer_dx, *layer.grads])}
    print("3. against minirnn.LSTM's backward, largest differences:",
          ", ".join(f"{k} {v:.1e}" for k, v in differences.items()))
    return dict(report=report, differences=differences)


if __name__ == "__main__":
    main()
