"""``model.summary()``: Keras 3's table.

A Sequential shows layer (type), output shape and parameter count; a functional model adds
"Connected to" (``layer[node][tensor]`` for each input of each call).  A layer not built yet
shows ``?`` and ``0 (unbuilt)``.  Once the optimizer has state (after a training step) the
footer counts it too, as Keras does: its step count, learning rate and slots (momentum, Adam's
m and v ...), and the total includes them.
"""
from .layers.core import InputLayer
from .utils import format_shape


def _shape_text(node):
    shapes = [format_shape(t.shape) for t in node.outputs]
    return f"[{', '.join(shapes)}]" if node.multi_output else shapes[0]


def _bytes(n):
    for unit in ("B", "KB", "MB", "GB"):
        if n < 1024 or unit == "GB":
            return f"{n:.2f} {unit}"
        n /= 1024


def optimizer_variables(optimizer):
    """(count, bytes) of the optimizer's variables as Keras counts them, or None before its
    first step: the step count (int64), the learning rate (float32) and every slot."""
    if optimizer is None or not (optimizer.iterations or getattr(optimizer, "_slots", None)):
        return None
    slots = [a for _, entry in optimizer._slots.values() for a in entry.values()]
    return 2 + sum(a.size for a in slots), 8 + 4 + sum(a.nbytes for a in slots)


def rows(model, connected):
    """[(name (type), output shape, params, [connections])] in the model's layer order."""
    nodes = getattr(model, "_nodes", None) if model._steps is not None else None
    out = []
    for layer in model.layers:
        title = f"{layer.name} ({type(layer).__name__})"
        own = [n for n in (nodes or []) if n.layer is layer]
        if isinstance(layer, InputLayer):
            shape = format_shape(layer.output.shape)
        elif own:
            shape = _shape_text(own[-1])
        else:
            shape = "?"
        params = f"{layer.count_params():,}" if layer.built else "0 (unbuilt)"
        links = [t.history_name() for n in own for t in n.inputs] or ["-"]
        out.append((title, shape, params, links if connected else []))
    return out


def summary_lines(model, connected=True):
    """The table's lines; `connected` adds the "Connected to" column (a functional model's)."""
    table = rows(model, connected)
    headers = ["Layer (type)", "Output Shape", "Param #"] + (["Connected to"] if connected else [])
    minimum = [20, 17, 10, 17] if connected else [31, 22, 13]
    widths = []
    for k, header in enumerate(headers):
        entries = [header] + [link + "," for r in table for link in r[3]] if k == 3 else \
            [header] + [r[k] for r in table]
        widths.append(max(minimum[k], *(len(e) for e in entries)))

    def rule(left, mid, right, fill):
        return left + mid.join(fill * (w + 2) for w in widths) + right

    align = ["<", "<", ">", "<"]

    def row(columns, edge="│"):
        height = max(len(c) for c in columns)
        columns = [c + [""] * (height - len(c)) for c in columns]
        return [edge + edge.join(f" {columns[k][i]:{align[k]}{widths[k]}} " for k in range(len(widths))) + edge
                for i in range(height)]

    lines = [f'Model: "{model.name}"', rule("┏", "┳", "┓", "━")]
    lines += row([[h] for h in headers], "┃")
    lines.append(rule("┡", "╇", "┩", "━"))
    for k, (title, shape, params, links) in enumerate(table):
        columns = [[title], [shape], [params]]
        if connected:
            columns.append([link + ("," if i < len(links) - 1 else "") for i, link in enumerate(links)])
        lines += row(columns)
        if k < len(table) - 1:
            lines.append(rule("├", "┼", "┤", "─"))
    lines.append(rule("└", "┴", "┘", "─"))
    weights = []                        # (trainable, array): a layer's statistics and vector_u are not
    for layer in model.layers:
        keep = {id(w) for w in layer.trainable_weights} if getattr(model, "trainable", True) else set()
        weights += [(id(w) in keep, w) for w in layer.weights]
    trainable = sum(w.size for t, w in weights if t), sum(w.nbytes for t, w in weights if t)
    frozen = sum(w.size for t, w in weights if not t), sum(w.nbytes for t, w in weights if not t)
    opt = optimizer_variables(getattr(model, "optimizer", None)) if getattr(model, "compiled", False) else None
    total = (trainable[0] + frozen[0] + (opt[0] if opt else 0), trainable[1] + frozen[1] + (opt[1] if opt else 0))
    footer = [("Total", total), ("Trainable", trainable), ("Non-trainable", frozen)]
    if opt:
        footer.append(("Optimizer", opt))
    lines += [f" {label} params: {count:,} ({_bytes(size)})" for label, (count, size) in footer]
    return lines

