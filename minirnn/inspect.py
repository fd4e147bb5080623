"""See inside the recurrence: gates, states and dL/dh_t at every step.

    t = minirnn.inspect.trace(model, x, y)       # or a recurrent layer (with y: its target)
    t.gates["f"]          # (batch, time, units) forget-gate activations
    t.states["c"]         # (batch, time, units) c_t
    t.grads["h"]          # (batch, time, units) dL/dh_t
    t.grad_norm("h")      # (time,) mean over the batch of ||dL/dh_t||
    minirnn.inspect.plot_gates(t); minirnn.inspect.plot_gradient_flow({"LSTM": t})

Steps are in the order the layer reads them (reversed for ``go_backwards``).  dL/dh_t is
the whole gradient of the loss with respect to h_t: through the output at t
(``return_sequences``) and through every later step.  dL/dc_t (LSTM) is the gradient that
the cell state carries from step t to step t+1, h_t held fixed: dc_next in the backward
equations of cells/lstm.py, the path along which an LSTM keeps its gradient alive.
Both are measured, not estimated: the cell is run again from (h_t, c_t) over the
remaining steps and its backward pass gives the gradient of those initial states (plus
the output's own term for h); that costs one forward and backward per step (fine for
inspecting; not for training).
"""
from dataclasses import dataclass, field

import numpy as np

from . import losses, parallel

__all__ = ["trace", "Trace", "plot_gates", "plot_gradient_flow"]


@dataclass
class Trace:
    """What :func:`trace` measured; every array is (batch, time, units), batch-first."""
    layer: object
    loss: float
    gates: dict = field(default_factory=dict)      # gate name -> activations
    states: dict = field(default_factory=dict)     # state name -> s_t carried out of step t
    grads: dict = field(default_factory=dict)      # state name -> dL/ds_t

    def grad_norm(self, state="h"):
        """(time,) the mean over the batch of ||dL/ds_t|| (Euclidean norm over the units)."""
        return np.linalg.norm(self.grads[state], axis=-1).mean(axis=0)

    def distance_from_loss(self):
        """(time,) steps between step t and the last step (where a last-output loss is)."""
        T = next(iter(self.states.values())).shape[1]
        return np.arange(T)[::-1]


def _recurrent_layer(target, layer):
    """The RNN layer to trace: `layer` (an object or a name) or the first recurrent layer."""
    from .layers.rnn import RNN

    if isinstance(target, RNN):
        return target
    candidates = []
    for sub in getattr(target, "layers", []):
        candidates += [sub] if isinstance(sub, RNN) else \
            [half for half in (getattr(sub, "forward_layer", None),) if isinstance(half, RNN)]
    if isinstance(layer, RNN):
        return layer
    for sub in candidates:
        if layer is None or sub.name == layer:
            return sub
    raise ValueError(f"inspect.trace: no recurrent layer {layer!r} in {target!r} "
                     f"(recurrent layers: {[sub.name for sub in candidates]})")


def trace(target, x, y, *, layer=None, loss=None, mask=None):
    """Run `target` (a model, or a recurrent layer) forward and backward on (x, y) and return a
    :class:`Trace` of one recurrent layer (`layer`: its name or the layer; default the first).

    The loss is the model's compiled loss, or `loss` (default ``"mse"``) on the layer's output."""
    rnn = _recurrent_layer(target, layer)
    cell = rnn.cell
    is_layer = target is rnn
    loss_fn = losses.get(loss if loss is not None else
                         (None if is_layer else getattr(target, "loss", None)) or "mse")
    captured = {}
    original = cell.backward_phases

    def capture(cache, dH, dstates):
        captured.update(cache=cache, dH=dH.copy(), dstates=[d.copy() for d in dstates])
        return original(cache, dH, dstates)

    previous = parallel.set_large_work_threads(1)      # one chunk: one cache for the whole batch
    cell.backward_phases = capture
    try:
        kwargs = {} if mask is None else {"mask": mask}
        y_pred = target(x, training=True, **kwargs) if is_layer else target(x, training=True)
        value = float(loss_fn(y, y_pred))
        target.backward(loss_fn.gradient(y, y_pred))
    finally:
        del cell.backward_phases
        parallel.set_large_work_threads(previous)
    cache, dH, dstates = captured["cache"], captured["dH"], captured["dstates"]

    names = cell.state_names
    carried = {name: getattr(cache, name.upper()) for name in names}     # (T, B, n): H, C
    T = dH.shape[0]
    grads = {name: np.zeros_like(carried[name]) for name in names}
    for t in range(T):
        if t == T - 1:
            future = dstates                           # the final states' own gradients
        else:
            start = [carried[name][t] for name in names]
            M = cache.mask[t + 1:] if cache.mask.shape[0] else cache.mask
            _, _, sub = cell.forward(cache.X[t + 1:], start, M, cache.R, cache.input_masks)
            _, future, _ = cell.backward(sub, dH[t + 1:], dstates)
        for k, name in enumerate(names):
            grads[name][t] = future[k] + (dH[t] if k == 0 else 0)
    result = Trace(layer=rnn, loss=value)
    gates = getattr(cache, "gates", None)
    if gates is not None:
        n = cell.units
        result.gates = {g: np.ascontiguousarray(gates[:, :, k * n:(k + 1) * n].transpose(1, 0, 2))
                        for k, g in enumerate(cell.gate_names)}
    result.states = {name: np.ascontiguousarray(s.transpose(1, 0, 2)) for name, s in carried.items()}
    result.grads = {name: np.ascontiguousarray(g.transpose(1, 0, 2)) for name, g in grads.items()}
    return result


def plot_gates(t, sample=0, path=None, title=None):
    """Heatmaps (units x time) of each gate and state of one sequence; saved to `path` if given.
    Returns the matplotlib figure."""
    import matplotlib.pyplot as plt

    panels = [(f"gate {name}", a) for name, a in t.gates.items()] + \
             [(f"state {name}", a) for name, a in t.states.items()]
    fig, axes = plt.subplots(len(panels), 1, figsize=(10, 1.6 * len(panels) + 1), sharex=True, squeeze=False)
    for ax, (label, a) in zip(axes[:, 0], panels):
        if label.startswith("gate") and a.min() >= 0:        # a sigmoid gate: 0 (closed) to 1 (open)
            style = dict(cmap="viridis", vmin=0, vmax=1)
        else:                                                 # tanh candidates and states: signed, 0 in white
            bound = max(float(np.abs(a[sample]).max()), 1e-12)
            style = dict(cmap="coolwarm", vmin=-bound, vmax=bound)
        image = ax.imshow(a[sample].T, aspect="auto", interpolation="nearest", **style)
        ax.set_ylabel(f"{label}\nunit")
        fig.colorbar(image, ax=ax, pad=0.01)
    axes[-1, 0].set_xlabel("time step")
    fig.suptitle(title or f"{type(t.layer.cell).__name__}: gates and states of sequence {sample}")
    fig.tight_layout()
    if path:
        fig.savefig(path, dpi=100, bbox_inches="tight")
    return fig


def plot_gradient_flow(traces, state="h", path=None, ax=None, title=None):
    """||dL/ds_t|| against the distance from the last step, one line per trace ({label: Trace}),
    log scale: the vanishing (or not) gradient of every lecture on RNNs, measured."""
    import matplotlib.pyplot as plt

    fig = None
    if ax is None:
        fig, ax = plt.subplots(figsize=(8, 5))
    for label, t in traces.items():
        if state in t.grads:
            ax.plot(t.distance_from_loss(), t.grad_norm(state), label=label)
    ax.set_yscale("log")
    ax.set(xlabel="steps before the last step", ylabel=f"mean ||dL/d{state}_t||",
           title=title or f"gradient flow: dL/d{state}_t")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend()
    if path and fig is not None:
        fig.savefig(path, dpi=100, bbox_inches="tight")
    return ax.figure
