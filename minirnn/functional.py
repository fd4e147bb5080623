"""The functional graph: the nodes between inputs and outputs, run forward and backward.

    inputs = Input(shape=(None, 1))      a KerasTensor: shape (None, None, 1), dtype, no data
    x = LSTM(16)(inputs)                 calling a layer on symbolic tensors records a Node
    outputs = Dense(1)(x)                (both in minirnn/symbolic.py, below the layers)
    model = Model(inputs, outputs)       the nodes between them, in topological order

Forward runs the nodes in order.  Backward runs them in reverse, each through its layer's own
``backward``; a tensor read by several nodes gets the sum of their gradients,

    dL/dt = sum over the nodes n that read t of (dL/d inputs of n)[t]

A layer called on several tensors (shared) keeps one set of weights: each call's training cache
is kept per node and restored for that node's backward, and the weight gradients are summed,
dL/dW = sum over the layer's nodes of dL/dW|node.

A layer with several inputs (the merge layers) takes a list: ``call(list of arrays)``,
``backward(dy)`` returns the list of input gradients in input order,
``compute_output_shape(list of shapes)`` and ``compute_mask(inputs, list of masks)``.
"""
import collections

import numpy as np

from . import budget
from .layers.core import InputLayer
from .symbolic import KerasTensor, Node, call_symbolic  # noqa: F401  (the graph's parts, by their old address)
from .utils import format_shape


# -- the graph between inputs and outputs ------------------------------------------------
def map_graph(inputs, outputs):
    """(nodes in topological order, layers in Keras's order) of the graph from `inputs` to
    `outputs` (flat lists of KerasTensors).

    Keras's order: by depth (longest path to an output) from the inputs' side, ties in the
    order a depth-first walk back from the outputs first meets the layers; weights and
    ``model.layers`` follow it."""
    order, first_seen, done, active = [], {}, set(), set()

    def enter(node):
        if node in active:
            raise ValueError(f"The graph has a cycle through layer '{node.layer.name}'")
        first_seen.setdefault(node.layer, len(first_seen))
        active.add(node)
        return node, iter(() if _is_input_node(node) else node.inputs)

    def visit(tensor):
        """Depth first from `tensor` back to the inputs, nodes appended after their inputs
        (an explicit stack: a graph may be deeper than Python's recursion limit)."""
        if tensor.node in done:
            return
        stack = [enter(tensor.node)]
        while stack:
            node, pending = stack[-1]
            for t in pending:
                if t.node not in done:
                    stack.append(enter(t.node))
                    break
            else:
                stack.pop()
                active.discard(node)
                done.add(node)
                order.append(node)

    for t in outputs:
        visit(t)
    for t in inputs:                         # an input no output depends on still belongs to the model
        if t.node not in done:
            done.add(t.node)
            order.insert(0, t.node)
            first_seen.setdefault(t.node.layer, -1)
    node_depth, layer_depth = {}, {}
    in_graph = set(order)
    for node in reversed(order):
        depth = max(node_depth.setdefault(node, 0), layer_depth.get(node.layer, 0))
        node_depth[node] = layer_depth[node.layer] = depth
        for parent in node.parents:
            if parent in in_graph:
                node_depth[parent] = max(depth + 1, node_depth.get(parent, 0))
    layers = sorted(layer_depth, key=lambda layer: (-layer_depth[layer], first_seen[layer]))
    known = {id(t) for t in inputs}
    for node in order:
        if _is_input_node(node):
            if id(node.outputs[0]) not in known:
                raise ValueError(f"Graph disconnected: the model needs Input '{node.layer.name}' "
                                 f"{format_shape(node.outputs[0].shape)}, which is not among its inputs")
            continue
        known.update(id(t) for t in node.outputs)
    names = collections.Counter(layer.name for layer in layers)
    clash = [name for name, count in names.items() if count > 1]
    if clash:
        raise ValueError(f"The name {clash[0]!r} is used by {names[clash[0]]} layers of the model; "
                         f"every layer name in a model must be unique")
    return [n for n in order if not _is_input_node(n)], layers


def _is_input_node(node):
    return isinstance(node.layer, InputLayer)


class Step:
    """A node as the forward and backward loops need it: where its inputs and outputs live
    (indices into one list of values) and whether its layer is shared."""

    __slots__ = ("layer", "inputs", "single", "outputs", "takes_mask", "shared", "kwargs", "n_states", "n_masks")

    def __init__(self, node, slot_of, takes_mask, shared):
        self.layer = node.layer
        self.inputs = [slot_of[id(t)] for t in node.inputs]
        self.single = node.single
        self.outputs = [slot_of[id(t)] for t in node.outputs]
        self.takes_mask = takes_mask
        self.shared = shared
        self.kwargs = node.kwargs
        self.n_states = node.n_states
        self.n_masks = node.n_masks


def compile_steps(inputs, nodes, takes_mask):
    """(steps, number of value slots): inputs take slots 0..n-1, then each node's outputs."""
    slot_of = {id(t): k for k, t in enumerate(inputs)}
    for node in nodes:
        for t in node.outputs:
            slot_of[id(t)] = len(slot_of)
    calls = collections.Counter(node.layer for node in nodes)
    _refuse_shared_halves(calls)
    steps = [Step(node, slot_of, takes_mask(node.layer), calls[node.layer] > 1) for node in nodes]
    return steps, slot_of


def run_forward(steps, n_slots, inputs, input_masks, training):
    """Every node's outputs from the model's input arrays: (values, masks, per-node caches of
    shared layers (training only))."""
    values = [None] * n_slots
    masks = [None] * n_slots
    values[:len(inputs)] = inputs
    masks[:len(inputs)] = input_masks
    saved = {}
    for k, step in enumerate(steps):
        layer = step.layer
        if step.single:
            x, mask = values[step.inputs[0]], masks[step.inputs[0]]
            has_mask = mask is not None
        else:
            x, mask = [values[i] for i in step.inputs], [masks[i] for i in step.inputs]
            has_mask = any(m is not None for m in mask)
        kwargs = step.kwargs
        if step.n_masks:                                       # an explicit mask= tensor wins
            mask, has_mask = values[step.inputs[-1]], True
        if step.n_states:
            kwargs = {**kwargs, "initial_state": [values[i] for i in step.inputs[1:1 + step.n_states]]}
        if has_mask and step.takes_mask:
            y = layer(x, training=training, mask=mask, **kwargs)
        else:
            y = layer(x, training=training, **kwargs)
        if training and step.shared:
            saved[k] = [(holder, holder._cache) for holder in layer.cache_holders()]
        regularizer = layer.__dict__.get("activity_regularizer")
        if regularizer is not None and isinstance(y, np.ndarray):    # Keras 3: penalty / batch size
            saved["activity_loss"] = saved.get("activity_loss", 0.0) + regularizer(y) / max(len(y), 1)
            saved[("activity", k)] = y
        out_mask = layer.compute_mask(x, mask if has_mask else None)
        if len(step.outputs) == 1:
            if isinstance(y, list):
                raise ValueError(f"Layer '{layer.name}' returned {len(y)} arrays where its graph "
                                 f"node expects one")
            values[step.outputs[0]], masks[step.outputs[0]] = y, out_mask
        else:
            y = _flat_outputs(y)            # a stack of cells gives its states grouped by cell
            out_masks = out_mask if isinstance(out_mask, list) else [out_mask] + [None] * (len(y) - 1)
            for slot, value, m in zip(step.outputs, y, out_masks):
                values[slot], masks[slot] = value, m
    return values, masks, saved


def _refuse_shared_halves(layers):
    """One recurrent layer inside two Bidirectional layers of one graph (Keras allows a
    backward_layer given to both) would have its training cache and gradients taken by both:
    refused, naming them."""
    owner = {}
    for layer in layers:
        for half in (getattr(layer, "forward_layer", None), getattr(layer, "backward_layer", None)):
            if half is None:
                continue
            other = owner.setdefault(id(half), layer)
            if other is not layer:
                raise ValueError(f"Layer '{half.name}' is a half of both '{other.name}' and '{layer.name}' "
                                 f"(one backward_layer given to two Bidirectional layers): a model cannot "
                                 f"hold both; give each Bidirectional its own backward_layer")


def _flat_outputs(y):
    """A layer's outputs as a flat list (lists of outputs may nest lists)."""
    if isinstance(y, (list, tuple)):
        return [a for item in y for a in _flat_outputs(item)]
    return [y]


def _accumulate(grads, slot, g):
    if g is None:
        return
    grads[slot] = g if grads[slot] is None else grads[slot] + g     # never in place: g may be shared


def slots_needing_gradient(steps, n_slots, n_inputs_not_needed=0):
    """For each slot, whether a training step needs dL/d(slot): not for the first
    `n_inputs_not_needed` (the model's inputs), nor for a slot computed from such slots by
    layers without weights (a ``Lambda`` that adds the channel axis, say); every other slot
    may lead back to a weight."""
    needed = [True] * n_slots
    needed[:n_inputs_not_needed] = [False] * min(n_inputs_not_needed, n_slots)
    for step in steps:
        if not any(needed[s] for s in step.inputs) and not step.layer.weights:
            for s in step.outputs:
                needed[s] = False
    return needed


def run_backward(steps, n_slots, output_slots, d_outputs, saved, n_inputs_not_needed=0):
    """dL/d(every slot) from dL/d(outputs), nodes in reverse order; returns (slot gradients,
    {shared layer: summed weight gradients}, layers no gradient reached).  Slots that
    :func:`slots_needing_gradient` finds unneeded (the model's inputs in a training step, and
    what weightless layers compute from them) get none: a layer without weights that reads
    only those is not back-propagated, one that ``skips_input_grad`` is asked for no dL/dx."""
    grads = [None] * n_slots
    for slot, d in zip(output_slots, d_outputs):
        _accumulate(grads, slot, d)
    needed = slots_needing_gradient(steps, n_slots, n_inputs_not_needed)
    shared_grads, unreached = {}, []
    for k in range(len(steps) - 1, -1, -1):
        step = steps[k]
        layer = step.layer
        inputs_needed = any(needed[s] for s in step.inputs)
        if not inputs_needed and not layer.weights:
            continue                  # its backward would give only dL/dx, which nothing reads
        if len(step.outputs) == 1:
            dy = grads[step.outputs[0]]
            reached = dy is not None
        else:
            dy = [grads[s] for s in step.outputs]
            reached = any(d is not None for d in dy)
        if not reached:
            unreached.append(layer)
            continue
        if step.shared:
            for holder, cache in saved[k]:
                holder._cache = cache
        if ("activity", k) in saved:
            y = saved[("activity", k)]
            dy = dy + layer.activity_regularizer.gradient(y) / max(len(y), 1)
        if not inputs_needed and getattr(layer, "skips_input_grad", False):
            dx = layer.backward(dy, input_grad=False)
        else:
            dx = layer.backward(dy)
        if step.shared and layer.weights:
            own = layer.grads
            previous = shared_grads.get(layer)
            shared_grads[layer] = list(own) if previous is None else [a + b for a, b in zip(previous, own)]
        if step.single:
            _accumulate(grads, step.inputs[0], dx)
            for slot, g in zip(step.inputs[1:], layer.initial_state_grads if step.n_states else ()):
                _accumulate(grads, slot, g)
        else:
            for slot, g in zip(step.inputs, dx):
                _accumulate(grads, slot, g)
    if not unreached:
        return grads, shared_grads, set()
    reached = {step.layer for step in steps if any(grads[s] is not None for s in step.outputs)}
    return grads, shared_grads, set(unreached) - reached


# -- saving: the graph as a config ---------------------------------------------------------
def graph_config(layers, nodes, inputs, outputs, serialize, call_form=None):
    """Keras-style config: each layer's entry with its ``inbound_nodes`` (one per call: by
    default the list of ``[layer name, node index, tensor index]`` of its inputs, else
    ``call_form(node, ref)`` with ``ref(tensor)`` giving that triple), ``input_layers`` and
    ``output_layers``.  Node indices count only the calls inside this graph, as Keras's do."""
    index, own = {}, collections.defaultdict(list)  # node -> index among its layer's nodes here
    for node in nodes:
        index[node] = len(own[node.layer])
        own[node.layer].append(node)

    def ref(t):
        return [t.node.layer.name, index.get(t.node, 0), t.index]

    call_form = call_form or (lambda node, ref: [ref(t) for t in node.inputs])
    entries = []
    for layer in layers:
        entry = serialize(layer)
        entry["name"] = layer.name
        calls = own.get(layer, [])
        entry["inbound_nodes"] = [call_form(node, ref) for node in calls]
        if any(node.n_states for node in calls):     # the last n inputs are initial states
            entry["inbound_states"] = [node.n_states for node in calls]
        if any(node.n_masks for node in calls):      # then the mask, if one was passed
            entry["inbound_masks"] = [node.n_masks for node in calls]
        entries.append(entry)
    return {"layers": entries, "input_layers": [ref(t) for t in inputs],
            "output_layers": [ref(t) for t in outputs]}


def rebuild_graph(config, deserialize):
    """(input tensors, output tensors) from :func:`graph_config`'s output: the layers are
    created, then each call is made once the tensors it reads exist (and, for a layer called
    several times, after its previous call), in time linear in the number of calls."""
    layers, tensors, calls = {}, {}, []
    for entry in config.get("layers", []):
        layer = deserialize(entry)
        name = entry.get("name", layer.name)
        layers[name] = layer
        if isinstance(layer, InputLayer):
            tensors[(name, 0)] = [layer.output]
        n_states = entry.get("inbound_states") or []
        n_masks = entry.get("inbound_masks") or []
        for k, call in enumerate(entry.get("inbound_nodes") or []):
            budget.charge(budget.NODE_BYTES, f"Layer {name!r}: call {k} of the config")     # while loading
            calls.append((name, k, call, n_states[k] if k < len(n_states) else 0,
                          n_masks[k] if k < len(n_masks) else 0))
    waiting = collections.defaultdict(list)      # (layer, node index) -> the calls that need it
    missing, ready = [], collections.deque()
    for i, (name, k, call, _, _) in enumerate(calls):
        needs = {(ref[0], ref[1]) for ref in call} | ({(name, k - 1)} if k else set())
        needs -= tensors.keys()
        missing.append(len(needs))
        for key in needs:
            waiting[key].append(i)
        if not needs:
            ready.append(i)
    made = 0
    while ready:
        name, k, call, n_states, n_masks = calls[ready.popleft()]
        args = [tensors[(ref[0], ref[1])][ref[2]] for ref in call]
        if n_states or n_masks:
            kwargs = {"initial_state": args[1:1 + n_states]} if n_states else {}
            if n_masks:
                kwargs["mask"] = args[-1]
            out = layers[name](args[0], **kwargs)
        else:
            out = layers[name](args[0] if len(args) == 1 else args)
        tensors[(name, k)] = _flat_outputs(out)
        made += 1
        for j in waiting.pop((name, k), ()):
            missing[j] -= 1
            if not missing[j]:
                ready.append(j)
    if made < len(calls):
        stuck = next(call for call, count in zip(calls, missing) if count)
        raise ValueError(f"The model config's graph cannot be rebuilt: the inputs of layer "
                         f"{stuck[0]!r} are never computed")

    def lookup(refs, what):
        try:
            return [tensors[(r[0], r[1])][r[2]] for r in refs]
        except (KeyError, IndexError, TypeError):
            raise ValueError(f"The model config's {what} {refs!r} name tensors the graph does not "
                             f"compute") from None
    return (lookup(config.get("input_layers", []), "input_layers"),
            lookup(config.get("output_layers", []), "output_layers"))
