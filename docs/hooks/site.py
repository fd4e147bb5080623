"""MkDocs hook: the parts of the site made from minirnn's own files when it builds.

* ```` ```equations ```` fences: each equation, typeset, beside the lines of the cell file
  that compute it (read by their F1/B1 tags, :mod:`source_lines`).  A page that shows a
  cell file must show every tag of that file, in its docstring and in its code.
* ``<!-- readme: Heading -->``: that section of README.md, so the two cannot disagree.
* ``[[test tests/test_x.py::test_name]]`` and ``[[file path]]``: a reference that must exist;
  ``[[source path::Name]]`` alone on a line: that whole function or class, with line numbers.
* Math (``$...$``, ``$$...$$`` through pymdownx.arithmatex) typeset by KaTeX (from the npm
  registry, ``docs/package.json``) into HTML and MathML: the pages need its CSS and fonts,
  copied into the site, and no script or network.

Computations on the pages (markdown-exec blocks) run on the NumPy backend: tiny problems,
where Numba's compile time would dominate the build.
"""
import html
import json
import logging
import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

from mkdocs.exceptions import PluginError

ROOT = Path(__file__).resolve().parents[2]
DOCS = ROOT / "docs"
HOOKS = Path(__file__).resolve().parent
KATEX = DOCS / "node_modules" / "katex"

os.environ["MINIRNN_BACKEND"] = "numpy"              # before anything imports minirnn
os.environ.setdefault("MPLBACKEND", "Agg")
import source_lines  # noqa: E402  (MkDocs puts this folder on sys.path while it loads a hook)

log = logging.getLogger("mkdocs.plugins.minirnn")
_started = [0.0]


# -- build ------------------------------------------------------------------------------------------
def on_config(config):
    _started[0] = time.perf_counter()
    for path in (str(HOOKS), str(ROOT)):             # for the pages' code: page_tools, this checkout's minirnn
        if path not in sys.path:
            sys.path.insert(0, path)
    if not (KATEX / "dist" / "katex.min.css").exists():
        npm = shutil.which("npm")
        if npm is None:
            raise PluginError("the site typesets its math with KaTeX from npm: install Node.js and npm, "
                              "or run `npm ci --prefix docs` where they are")
        log.info("installing KaTeX into docs/node_modules (npm ci, once)")
        subprocess.run([npm, "ci", "--prefix", str(DOCS), "--no-audit", "--no-fund", "--loglevel=error"],
                       check=True)
    return config


def on_post_build(config):
    target = Path(config["site_dir"]) / "assets" / "katex"
    if target.exists():
        shutil.rmtree(target)
    shutil.copytree(KATEX / "dist" / "fonts", target / "fonts")
    shutil.copy2(KATEX / "dist" / "katex.min.css", target / "katex.min.css")
    log.info(f"minirnn docs built in {time.perf_counter() - _started[0]:.1f} s")


# -- markdown ---------------------------------------------------------------------------------------
FENCE = re.compile(r"^```equations[ \t]*\n(.*?)\n```[ \t]*$", re.M | re.S)
ROW = re.compile(r"^([FB]\d+'?(?:\s*,\s*[FB]\d+'?)*):\s*(.*)$")
HEADER = re.compile(r"^(source|code|partial|id):\s*(.*)$")
OPTION = re.compile(r"^\s+(start|stop|code|note):\s*(.*)$")
README = re.compile(r"^<!--\s*readme:\s*(.*?)\s*-->[ \t]*$", re.M)
REFERENCE = re.compile(r"\[\[(test|file) ([^\]\s]+)\]\]")
DEFINITION = re.compile(r"^\[\[source ([^\]\s]+)::([\w.]+)\]\][ \t]*$", re.M)


_page_started = {}


def on_page_markdown(markdown, page, config, files):
    where = page.file.src_path
    _page_started[where] = time.perf_counter()
    try:
        markdown = README.sub(lambda m: readme_section(m.group(1)), markdown)
        markdown = DEFINITION.sub(lambda m: show_definition(m.group(1), m.group(2)), markdown)
        markdown = REFERENCE.sub(lambda m: reference(m.group(1), m.group(2)), markdown)
        shown = {}
        markdown = FENCE.sub(lambda m: equations(m.group(1), shown), markdown)
    except (source_lines.SourceError, ValueError, OSError) as error:
        raise PluginError(f"{where}: {error}") from error
    for path, tags in shown.items():
        in_doc, in_code = source_lines.tags_in(ROOT, path)
        missing = [t for t in dict.fromkeys(in_doc + in_code) if t not in tags]
        if missing:
            raise PluginError(f"{where}: {path} has equations {missing} that this page does not show")
    return markdown


def readme_section(heading):
    """The body of README.md's section `heading`, its subsections one level up, links to files of the
    repository (not pages of the site) as code."""
    lines = (ROOT / "README.md").read_text(encoding="utf-8").splitlines()
    starts = [n for n, line in enumerate(lines) if re.fullmatch(r"#+ " + re.escape(heading), line.strip())]
    if not starts:
        raise ValueError(f"README.md has no section {heading!r}")
    level = len(lines[starts[0]]) - len(lines[starts[0]].lstrip("#"))
    body, fenced = [], False
    for line in lines[starts[0] + 1:]:
        if line.startswith("```"):
            fenced = not fenced
        depth = len(line) - len(line.lstrip("#"))
        if not fenced and 0 < depth <= level and line[depth:depth + 1] == " ":
            break
        if not fenced and depth > level and line[depth:depth + 1] == " ":
            line = line[level - 1:]
        body.append(line)

    def link(m):
        text, target = m.group(1), m.group(2)
        if re.match(r"[a-z]+:|#", target):
            return m.group(0)
        return f"`{target}`" if text.strip("`") == target else f"{text} (`{target}`)"
    return re.sub(r"(?<!!)\[([^\]]+)\]\(([^)\s]+)\)", link, "\n".join(body).strip("\n"))


def reference(kind, target):
    """`target` as code, after checking it exists: a file, or a test function in a test file."""
    path, _, name = target.partition("::")
    file = ROOT / path
    if not file.is_file():
        raise ValueError(f"[[{kind} {target}]]: no file {path}")
    if kind == "test":
        if not re.search(rf"^\s*def {re.escape(name)}\(", file.read_text(encoding="utf-8"), re.M):
            raise ValueError(f"[[test {target}]]: {path} has no test {name}")
    return f"`{target}`"


def show_definition(path, name):
    """`[[source path::Name]]` alone on a line: that whole function or class, with its line numbers."""
    block = source_lines.definition(ROOT, path, name)
    return (f'<div class="eq-code"><div class="eq-where"><code>{block.path}</code> · <code>{block.function}</code>'
            f' · lines {block.first}–{block.last}</div>{highlight(block.lines, block.first)}</div>')


def equations(body, shown):
    """One ```equations fence: a header (source, code, partial, id) and rows `TAG: TeX`, each with
    optional indented `start:`, `stop:`, `code:` (another function) and `note:` lines."""
    header, rows = {}, []
    for line in body.splitlines():
        if not line.strip():
            continue
        row, head, option = ROW.match(line), HEADER.match(line), OPTION.match(line)
        if row:
            rows.append(dict(tags=[t.strip() for t in row.group(1).split(",")], tex=[row.group(2)], options={}))
        elif head:
            header[head.group(1)] = head.group(2).strip()
        elif option and rows:
            rows[-1]["options"][option.group(1)] = option.group(2).strip()
        elif rows and line[:1].isspace():
            rows[-1]["tex"].append(line.strip())
        else:
            raise ValueError(f"equations fence: cannot read the line {line!r}")
    path = header.get("source")
    if not path or not rows:
        raise ValueError("equations fence: needs `source:` and at least one `TAG: TeX` row")
    partial = header.get("partial", "no") == "yes"
    out = ['<div class="eq-table">']
    for row in rows:
        options = row["options"]
        function = options.get("code", header.get("code"))
        block = source_lines.tagged_block(ROOT, path, function, row["tags"], options.get("start"),
                                          options.get("stop"))
        if not partial:
            shown.setdefault(path, set()).update(row["tags"])
        label = ", ".join(row["tags"])
        anchor = header.get("id", "") + "-".join(t.lower().replace("'", "p") for t in row["tags"])
        tex = html.escape("\n".join(row["tex"]), quote=False)
        note = options.get("note")
        note = f'<p class="eq-note">{inline_math(note)}</p>' if note else ""
        out.append(
            f'<div class="eq-row" id="{anchor}">'
            f'<div class="eq-math"><a class="eq-tag" href="#{anchor}" title="equation {label}">{label}</a>'
            f'<div class="arithmatex">\\[{tex}\\]</div>{note}</div>'
            f'<div class="eq-code"><div class="eq-where"><code>{block.path}</code> · <code>{block.function}</code>'
            f' · {"line" if block.first == block.last else "lines"} {block.first}'
            f'{"" if block.first == block.last else "–" + str(block.last)}</div>'
            f'{highlight(block.lines, block.first)}</div></div>')
    out.append("</div>")
    return "\n".join(out)


def inline_math(text):
    """A note's `$...$` and `code` as HTML (a note is raw HTML, which Markdown does not read)."""
    parts = re.split(r"(\$.+?\$|`[^`]+`)", html.escape(text, quote=False))
    out = []
    for part in parts:
        if part.startswith("$") and part.endswith("$") and len(part) > 1:
            out.append(f'<span class="arithmatex">\\({part[1:-1]}\\)</span>')
        elif part.startswith("`") and part.endswith("`") and len(part) > 1:
            out.append(f"<code>{part[1:-1]}</code>")
        else:
            out.append(part)
    return "".join(out)


def highlight(lines, first):
    from pygments import highlight as pygmentize
    from pygments.formatters import HtmlFormatter
    from pygments.lexers import PythonLexer

    code = pygmentize("\n".join(lines) + "\n", PythonLexer(), HtmlFormatter(nowrap=True)).rstrip("\n").split("\n")
    width = len(str(first + len(code) - 1))
    numbered = "\n".join(f'<span class="linenos" data-linenos="{first + k:>{width}} "></span>{line}'
                         for k, line in enumerate(code))
    return f'<div class="language-python highlight no-copy"><pre><span></span><code>{numbered}</code></pre></div>'


# -- HTML -------------------------------------------------------------------------------------------
MATH = re.compile(r'<(span|div) class="arithmatex">(.*?)</\1>', re.S)


def on_page_content(html_text, page, config, files):
    seconds = time.perf_counter() - _page_started.get(page.file.src_path, time.perf_counter())
    log.debug(f"{page.file.src_path}: {seconds:.1f} s")
    # docstrings written for Sphinx (":class:`~minirnn.layers.RNN`"): the name as code
    return re.sub(r":(?:class|func|meth|mod|attr|data|exc):<code>~?([^<]*)</code>",
                  lambda m: f"<code>{m.group(1).rsplit('.', 1)[-1] if '~' in m.group(0) else m.group(1)}</code>",
                  html_text)


def on_post_page(output, page, config):
    found = list(MATH.finditer(output))
    if not found:
        return output
    formulas = []
    for m in found:
        tex = html.unescape(m.group(2)).strip()
        display = m.group(1) == "div"
        for opening, closing in (("\\[", "\\]"), ("\\(", "\\)"), ("$$", "$$"), ("$", "$")):
            if tex.startswith(opening) and tex.endswith(closing):
                tex = tex[len(opening):len(tex) - len(closing)]
                break
        formulas.append([tex.strip(), display])
    node = shutil.which("node")
    if node is None:
        raise PluginError("the site typesets its math with KaTeX at build time: Node.js (`node`) is needed")
    done = subprocess.run([node, str(HOOKS / "katex_render.js")], input=json.dumps(formulas),
                          capture_output=True, text=True)
    if done.returncode:
        raise PluginError(f"{page.file.src_path}: {done.stderr.strip()}")
    rendered = iter(json.loads(done.stdout))
    return MATH.sub(lambda m: f'<{m.group(1)} class="arithmatex">{next(rendered)}</{m.group(1)}>', output)
