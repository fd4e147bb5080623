"""The lines of minirnn's source that implement an equation, found by their tags.

The cell files tag each line of their reference loops with the equation it computes
(``c_new = f * c + i * g   # F3``).  :func:`tagged_block` returns the block of lines a
tag starts, read from the file when the site builds, so a page can never show code
that is no longer there: a tag, function or anchor that has gone is a build error.

A block is the tagged line and the lines after it, up to (not including) the first
blank line, line tagged with another equation, or line indented less than the tagged
line; ``start``/``stop`` widen or narrow it to the nearest line holding that text
before/after the tagged line.
"""
import ast
import io
import re
import tokenize
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

TAG = re.compile(r"(?<![\w'])([FB]\d+'?)(?![\w'])")


class SourceError(ValueError):
    """A tag, function or anchor asked for by a page is not in the source."""


@dataclass
class Block:
    path: str           # as given, relative to the repository
    function: str       # qualified name
    first: int          # 1-based line numbers, inclusive
    last: int
    lines: list         # the source lines, dedented, trailing comments next to the code

    @property
    def text(self):
        return "\n".join(self.lines)


@dataclass
class Source:
    lines: list               # the file's lines (index 0 = line 1)
    tags: dict                # line number -> tags in its trailing comment
    comments: dict            # line number -> column of its trailing comment
    functions: dict           # qualified name of a function or class -> (first line, last line)
    docstring_tags: list      # tags that open a line of the module docstring, in order


@lru_cache(maxsize=None)
def _read(path):
    text = Path(path).read_text(encoding="utf-8")
    lines = text.splitlines()
    tags, comments = {}, {}
    for token in tokenize.generate_tokens(io.StringIO(text).readline):
        if token.type == tokenize.COMMENT:
            row, col = token.start
            if lines[row - 1][:col].strip():            # a trailing comment, after code
                comments[row] = col
                found = TAG.findall(token.string)
                if found:
                    tags[row] = found
    tree = ast.parse(text)
    functions = {}

    def visit(node, prefix):
        for child in ast.iter_child_nodes(node):
            if isinstance(child, (ast.FunctionDef, ast.ClassDef)):
                name = prefix + child.name
                first = min([child.lineno] + [d.lineno for d in child.decorator_list])
                functions[name] = (first, child.end_lineno)
                visit(child, name + ".")

    visit(tree, "")
    doc = ast.get_docstring(tree) or ""
    docstring_tags = [m.group(1) for m in re.finditer(r"^\s*([FB]\d+'?)\s", doc, re.M)]
    return Source(lines, tags, comments, functions, docstring_tags)


def source(path):
    return _read(str(path))


def _indent(line):
    return len(line) - len(line.lstrip())


def tagged_block(root, path, function, tags, start=None, stop=None):
    """The block of `function` in `path` (relative to `root`) that starts at the first line tagged
    with any of `tags`; see the module docstring for `start` and `stop`."""
    src = source(Path(root) / path)
    if function not in src.functions:
        raise SourceError(f"{path}: no function {function!r} (functions: {sorted(src.functions)})")
    lo, hi = src.functions[function]
    tagged = [n for n in range(lo, hi + 1) if set(src.tags.get(n, ())) & set(tags)]
    if not tagged:
        raise SourceError(f"{path}: no line of {function} is tagged {'/'.join(tags)}")
    at = tagged[0]
    first = at
    if start is not None:
        hits = [n for n in range(lo, at + 1) if start in src.lines[n - 1]]
        if not hits:
            raise SourceError(f"{path}: {function}: no line holding {start!r} before the {tags[0]} line {at}")
        first = hits[-1]
    if stop is not None:
        hits = [n for n in range(at, hi + 1) if stop in src.lines[n - 1]]
        if not hits:
            raise SourceError(f"{path}: {function}: no line holding {stop!r} from the {tags[0]} line {at} on")
        last = hits[0]
    else:
        base = _indent(src.lines[at - 1])
        last = at
        for n in range(at + 1, hi + 1):
            line = src.lines[n - 1]
            other = set(src.tags.get(n, ())) - set(tags)
            if not line.strip() or other or _indent(line) < base:
                break
            last = n
    chunk = [_near(src, n) for n in range(first, last + 1)]
    margin = min(_indent(line) for line in chunk if line.strip())
    return Block(str(path), function, first, last, [line[margin:] for line in chunk])


def _near(src, n):
    """Line n with its trailing comment moved up to the code (the files align their tags far to the
    right; beside an equation the column is narrow)."""
    line = src.lines[n - 1]
    col = src.comments.get(n)
    return line if col is None else f"{line[:col].rstrip()}  {line[col:]}"


def tags_in(root, path):
    """(tags opening a line of the module docstring, tags in the code's trailing comments)."""
    src = source(Path(root) / path)
    in_code = []
    for n in sorted(src.tags):
        in_code += [t for t in src.tags[n] if t not in in_code]
    return src.docstring_tags, in_code


def definition(root, path, name):
    """The whole function or class `name` (qualified) of `path`, decorators included."""
    src = source(Path(root) / path)
    if name not in src.functions:
        raise SourceError(f"{path}: no function or class {name!r}")
    first, last = src.functions[name]
    return Block(str(path), name, first, last, src.lines[first - 1:last])
