"""``plot_model``: a model's layers, their shapes and connections as a picture (PNG, SVG, PDF...).

    plot_model(model, "model.png", show_shapes=True)

Drawn by Graphviz when its ``dot`` program is installed (from the DOT text of
:func:`model_to_dot`), else with Matplotlib: one box per layer (its name and class, and on
request its output shape, dtype, activation and trainable state), arrows from each layer to the
layers that take its output, laid out in ranks by the longest path from the inputs
(``rankdir="TB"`` top to bottom, ``"LR"`` left to right).
"""
import os
import shutil
import subprocess
import tempfile

from .models import Model, Sequential
from .utils import format_shape

FORMATS = ("png", "svg", "pdf", "jpg", "jpeg")


def _graph(model):
    """(boxes, edges): the model's layers (the Input layers first) and (from, to) pairs of them."""
    model._graph()
    layers, edges = [], []
    for node in model._nodes:
        for tensor in node.inputs:
            edge = (tensor.node.layer, node.layer)
            if tensor.node.layer not in layers:
                layers.append(tensor.node.layer)       # an Input layer
            if edge not in edges:
                edges.append(edge)
        if node.layer not in layers:
            layers.append(node.layer)
    return layers, edges


def _lines(layer, show_shapes, show_dtype, show_layer_names, show_layer_activations, show_trainable,
           expand_nested):
    title = f"{layer.name} ({type(layer).__name__})" if show_layer_names else type(layer).__name__
    lines = [title]
    if show_shapes:
        shapes = [t.shape for node in layer._inbound_nodes for t in node.outputs] or \
            [getattr(layer, "shape", None)]
        shown = [format_shape(s) for s in shapes if s is not None]
        lines.append("Output shape: " + (", ".join(dict.fromkeys(shown)) if shown else "?"))
    if show_dtype:
        lines.append(f"dtype: {getattr(layer, 'dtype', '?')}")
    owner = layer if hasattr(layer, "activation") else getattr(layer, "cell", None)      # RNN: its cell's
    if show_layer_activations and hasattr(owner, "activation"):
        from .activations import name

        activation = owner.activation
        lines.append(f"Activation: {activation if isinstance(activation, str) else name(activation)}")
    if show_trainable:
        lines.append(f"Trainable: {'yes' if layer.trainable else 'no'}")
    if expand_nested and isinstance(layer, Model):
        lines += [f"  {inner.name} ({type(inner).__name__})" for inner in layer.layers]
    return lines


def model_to_dot(model, show_shapes=False, show_dtype=False, show_layer_names=False, rankdir="TB",
                 expand_nested=False, dpi=200, show_layer_activations=False, show_trainable=False, **kwargs):
    """The model's graph as Graphviz DOT text (Keras returns a pydot graph; minirnn the text)."""
    layers, edges = _graph(model)
    options = (show_shapes, show_dtype, show_layer_names, show_layer_activations, show_trainable, expand_nested)
    ids = {id(layer): f"n{k}" for k, layer in enumerate(layers)}
    out = [f'digraph "{model.name}" {{', f'  graph [rankdir={rankdir}, dpi={int(dpi)}];',
           '  node [shape=box, style="rounded,filled", fillcolor="#e8eef7", fontname="Helvetica"];']
    for layer in layers:
        label = "\\n".join(line.replace('"', '\\"') for line in _lines(layer, *options))
        out.append(f'  {ids[id(layer)]} [label="{label}"];')
    out += [f"  {ids[id(a)]} -> {ids[id(b)]};" for a, b in edges]
    out.append("}")
    return "\n".join(out)


def _ranks(layers, edges):
    """Each layer's rank: the longest path to it from a layer without inputs."""
    rank = {id(layer): 0 for layer in layers}
    for _ in layers:                                  # the graph is acyclic: |layers| passes suffice
        changed = False
        for a, b in edges:
            if rank[id(b)] < rank[id(a)] + 1:
                rank[id(b)] = rank[id(a)] + 1
                changed = True
        if not changed:
            break
    return rank


def _draw_with_matplotlib(model, to_file, fmt, rankdir, dpi, options):
    from matplotlib.figure import Figure          # a Figure of its own: no pyplot state, no GUI backend
    from matplotlib.patches import FancyBboxPatch

    layers, edges = _graph(model)
    rank = _ranks(layers, edges)
    texts = {id(layer): "\n".join(_lines(layer, *options)) for layer in layers}
    by_rank = {}
    for layer in layers:
        by_rank.setdefault(rank[id(layer)], []).append(layer)
    width = max(len(line) for t in texts.values() for line in t.split("\n")) * 0.085 + 0.4    # inches
    height = max(t.count("\n") + 1 for t in texts.values()) * 0.19 + 0.2
    across = max(len(row) for row in by_rank.values())
    gap_along, gap_across = 0.55, 0.4
    position = {}
    for r, row in by_rank.items():
        for k, layer in enumerate(row):
            centred = k - (len(row) - 1) / 2
            if rankdir == "TB":
                position[id(layer)] = (centred * (width + gap_across), -r * (height + gap_along))
            else:
                position[id(layer)] = (r * (width + gap_along), -centred * (height + gap_across))
    if rankdir == "TB":
        size = (across * (width + gap_across) + 0.4, len(by_rank) * (height + gap_along) + 0.2)
    else:
        size = (len(by_rank) * (width + gap_along) + 0.4, across * (height + gap_across) + 0.4)
    figure = Figure(figsize=size)
    axes = figure.add_axes([0, 0, 1, 1])
    axes.set_axis_off()
    for layer in layers:
        x, y = position[id(layer)]
        axes.add_patch(FancyBboxPatch((x - width / 2, y - height / 2), width, height,
                                      boxstyle="round,pad=0.02,rounding_size=0.08", facecolor="#e8eef7",
                                      edgecolor="#35507a", linewidth=1.2))
        axes.text(x, y, texts[id(layer)], ha="center", va="center", fontsize=9, family="DejaVu Sans")
    for a, b in edges:
        (xa, ya), (xb, yb) = position[id(a)], position[id(b)]
        if rankdir == "TB":
            start, end = (xa, ya - height / 2), (xb, yb + height / 2)
        else:
            start, end = (xa + width / 2, ya), (xb - width / 2, yb)
        axes.annotate("", xy=end, xytext=start,
                      arrowprops=dict(arrowstyle="-|>", color="#35507a", linewidth=1.2, shrinkA=0, shrinkB=0))
    xs = [p[0] for p in position.values()]
    ys = [p[1] for p in position.values()]
    axes.set_xlim(min(xs) - width / 2 - 0.2, max(xs) + width / 2 + 0.2)
    axes.set_ylim(min(ys) - height / 2 - 0.1, max(ys) + height / 2 + 0.1)
    axes.set_aspect("equal")
    figure.savefig(to_file, format=fmt, dpi=dpi)


def plot_model(model, to_file="model.png", show_shapes=False, show_dtype=False, show_layer_names=False,
               rankdir="TB", expand_nested=False, dpi=200, show_layer_activations=False, show_trainable=False,
               **kwargs):
    """Draw the model to `to_file` (its extension picks the format: png, svg, pdf, jpg); in a
    notebook, returns the image to show (as Keras does), else None."""
    if not isinstance(model, Model):
        raise ValueError(f"plot_model expects a minirnn model, received {type(model).__name__}")
    if isinstance(model, Sequential) and not model.built:
        raise ValueError(f"Model '{model.name}' has not been built: start it with Input(shape=...) or "
                         f"build(input_shape) before plot_model")
    if rankdir not in ("TB", "LR"):
        raise ValueError(f"plot_model: rankdir must be 'TB' or 'LR', received {rankdir!r}")
    to_file = os.fspath(to_file)
    fmt = os.path.splitext(to_file)[1][1:].lower() or "png"
    if fmt not in FORMATS:
        raise ValueError(f"plot_model: cannot write {to_file!r}; the extension picks the format, one of {FORMATS}")
    options = (show_shapes, show_dtype, show_layer_names, show_layer_activations, show_trainable, expand_nested)
    dot = shutil.which("dot")
    if dot:
        with tempfile.NamedTemporaryFile("w", suffix=".dot", delete=False) as source:
            source.write(model_to_dot(model, *options[:3], rankdir, expand_nested, dpi, *options[3:5]))
        try:
            subprocess.run([dot, f"-T{'jpg' if fmt == 'jpeg' else fmt}", source.name, "-o", to_file],
                           check=True, capture_output=True)
        finally:
            os.remove(source.name)
    else:
        _draw_with_matplotlib(model, to_file, "jpg" if fmt == "jpeg" else fmt, rankdir, dpi, options)
    if fmt != "pdf":
        try:
            from IPython import display
            from IPython import get_ipython

            if get_ipython() is not None:
                return display.Image(filename=to_file) if fmt != "svg" else display.SVG(filename=to_file)
        except ImportError:
            pass
    return None
