"""The layering of the package, enforced: no import circles, no import that goes up a layer, no
module too long to read in one sitting.

Every import statement counts, those inside functions too (an import deferred to call time is
still a dependency).  Like grimp and import-linter, an import of ``minirnn.a.b`` counts as a
dependency on that module, not on the packages Python initialises on the way to it.
"""
import ast
import os

import pytest

ROOT = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "minirnn")
MAX_LINES = 700

# Bottom to top: a module may import modules of its own layer and of the layers below it.
# A name stands for that module and, unless a more specific name is listed, the modules under it.
LAYERS = [
    ("foundation", ["minirnn.backend", "minirnn.blas", "minirnn.memory", "minirnn.parallel",
                    "minirnn.registry", "minirnn.utils", "minirnn.version", "minirnn.budget"]),
    ("objects", ["minirnn.activations", "minirnn.initializers", "minirnn.ops", "minirnn.losses",
                 "minirnn.metrics", "minirnn.optimizers", "minirnn.callbacks", "minirnn.data",
                 "minirnn.data_adapters", "minirnn.datasets", "minirnn.scatter", "minirnn.serialization",
                 "minirnn.symbolic", "minirnn.pipeline", "minirnn.regularizers", "minirnn.constraints",
                 "minirnn.convolution", "minirnn.downloads", "minirnn.keras_datasets"]),
    ("cells", ["minirnn.cells.base", "minirnn.cells.simple_rnn", "minirnn.cells.lstm", "minirnn.cells.gru",
               "minirnn.cells.conv_lstm"]),
    # The fused twins decorate the cells' reference loops; importing minirnn.cells registers them.
    ("kernels", ["minirnn.kernels", "minirnn.cells"]),
    ("layers", ["minirnn.layers", "minirnn.gradcheck", "minirnn.inspect"]),
    ("graph", ["minirnn.functional", "minirnn.summary"]),
    ("training", ["minirnn.trainer"]),
    ("models", ["minirnn.models"]),
    ("files", ["minirnn.saving", "minirnn.interop", "minirnn.onnx"]),
    ("many fits", ["minirnn.fits"]),
    ("api", ["minirnn", "minirnn.keras", "minirnn.visualization"]),
]


def package_modules():
    """{module name: file path} of every module of the package."""
    found = {}
    for directory, _, files in os.walk(ROOT):
        for name in files:
            if name.endswith(".py"):
                path = os.path.join(directory, name)
                parts = os.path.relpath(path, os.path.dirname(ROOT))[:-3].split(os.sep)
                found[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    return found


def imports(modules):
    """[(importer, imported, line)] for every import statement between the package's modules."""
    edges = []
    for name, path in modules.items():
        package = name if path.endswith("__init__.py") else name.rpartition(".")[0]
        with open(path, encoding="utf-8") as f:
            tree = ast.parse(f.read(), path)
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                targets = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:
                    parts = package.split(".")
                    base = ".".join(parts[:len(parts) - node.level + 1] + ([node.module] if node.module else []))
                targets = [f"{base}.{alias.name}" if f"{base}.{alias.name}" in modules else base
                           for alias in node.names]
            elif isinstance(node, ast.Call) and getattr(node.func, "attr", getattr(node.func, "id", None)) in (
                    "import_module", "__import__") and node.args and isinstance(node.args[0], ast.Constant):
                targets = [str(node.args[0].value)]         # importlib.import_module("minirnn.x") counts too
            else:
                continue
            for target in targets:
                while target not in modules and "." in target:
                    target = target.rpartition(".")[0]      # minirnn.layers.LSTM -> minirnn.layers
                if target in modules and target != name:
                    edges.append((name, target, node.lineno))
    return edges


def layer_of(module):
    """(index, name) of the layer a module belongs to: the most specific name that covers it."""
    best = None
    for index, (layer, names) in enumerate(LAYERS):
        for name in names:
            if module == name or module.startswith(name + "."):
                if best is None or len(name) > best[0]:
                    best = (len(name), index, layer)
    return None if best is None else best[1:]


def cycles(modules, edges):
    """The strongly connected components of more than one module (Tarjan), each as a list."""
    graph = {m: sorted({b for a, b, _ in edges if a == m}) for m in modules}
    index, low, stack, on_stack, found = {}, {}, [], set(), []

    def visit(v):
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in graph[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for module in sorted(graph):
        if module not in index:
            visit(module)
    return found


@pytest.fixture(scope="module")
def graph():
    modules = package_modules()
    return modules, imports(modules)


def test_the_graph_is_read(graph):
    modules, edges = graph
    assert len(modules) > 50 and len(edges) > 200
    assert ("minirnn.layers.rnn", "minirnn.cells.base") in {(a, b) for a, b, _ in edges}
    # a function-level import is counted: gradcheck imports the layers inside its functions
    assert any(a == "minirnn.gradcheck" and b == "minirnn.layers.base" for a, b, _ in edges)


def test_no_import_circles(graph):
    modules, edges = graph
    found = cycles(modules, edges)
    where = {(a, b): line for a, b, line in edges}
    report = []
    for component in found:
        inside = [f"{a} -> {b} (line {line})" for (a, b), line in sorted(where.items())
                  if a in component and b in component]
        report.append(f"{len(component)} modules import each other: " + "; ".join(inside))
    assert not found, "\n".join(report)


def test_every_module_has_a_layer(graph):
    modules, _ = graph
    missing = sorted(m for m in modules if layer_of(m) is None)
    assert not missing, f"modules no layer names (add them to LAYERS in {__file__}): {missing}"


def test_imports_go_down_the_layers(graph):
    _, edges = graph
    upward = []
    for a, b, line in edges:
        (i, layer_a), (j, layer_b) = layer_of(a), layer_of(b)
        if j > i:
            upward.append(f"{a} ({layer_a}) imports {b} ({layer_b}), line {line}")
    upward = list(dict.fromkeys(upward))           # one line per statement, not per name imported
    assert not upward, "imports that go up a layer:\n  " + "\n  ".join(upward)


def test_no_module_is_too_long(graph):
    modules, _ = graph
    long = {}
    for name, path in modules.items():
        with open(path, encoding="utf-8") as f:
            count = sum(1 for _ in f)
        if count > MAX_LINES:
            long[name] = count
    assert not long, f"modules over {MAX_LINES} lines (split them by job): {long}"
