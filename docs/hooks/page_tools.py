"""Small tools for the code the pages run when the site builds (markdown-exec blocks)."""
import base64
import importlib.util
import io
import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT / "examples") not in sys.path:          # the pages import the examples by name, as a reader
    sys.path.append(str(ROOT / "examples"))         # running them from examples/ would


def figure(fig, alt, width=None):
    """`fig` as an <img> holding its PNG (made now, never a committed file); closes the figure."""
    import matplotlib.pyplot as plt

    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=90, bbox_inches="tight")
    plt.close(fig)
    data = base64.b64encode(buffer.getvalue()).decode("ascii")
    size = f' style="max-width: {width}"' if width else ""
    return f'<img class="built-figure" alt="{alt}" src="data:image/png;base64,{data}"{size}>'


def example(name):
    """examples/<name>.py imported as a module (the examples are scripts, not a package)."""
    key = f"minirnn_example_{name}"
    if key not in sys.modules:
        spec = importlib.util.spec_from_file_location(key, ROOT / "examples" / f"{name}.py")
        module = importlib.util.module_from_spec(spec)
        sys.modules[key] = module
        spec.loader.exec_module(module)
    return sys.modules[key]


def readme_table(heading):
    """The first table of README.md's section `heading`: (header cells, rows of cells)."""
    lines = (ROOT / "README.md").read_text(encoding="utf-8").splitlines()
    start = next(n for n, line in enumerate(lines) if re.fullmatch(r"#+ " + re.escape(heading), line.strip()))
    table = []
    for line in lines[start + 1:]:
        if line.startswith("#"):
            break
        if line.startswith("|"):
            table.append([cell.strip() for cell in line.strip().strip("|").split("|")])
        elif table:
            break
    if len(table) < 3:
        raise ValueError(f"README.md's section {heading!r} has no table")
    return table[0], table[2:]


def readme_text(heading):
    """README.md's section `heading` as one string (to quote a figure from it)."""
    lines = (ROOT / "README.md").read_text(encoding="utf-8").splitlines()
    start = next(n for n, line in enumerate(lines) if re.fullmatch(r"#+ " + re.escape(heading), line.strip()))
    body = []
    for line in lines[start + 1:]:
        if re.match(r"#+ ", line):
            break
        body.append(line)
    return "\n".join(body)
