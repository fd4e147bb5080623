"""Every Python block of README.md runs as pasted: alone, in a fresh process, in an empty folder.

A block that defines ``test_*`` functions (the gradcheck example, written for a test file)
has them called too, so what it shows is checked, not only defined."""
import os
import re
import subprocess
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
RUN_BLOCK = """
import runpy, sys
names = runpy.run_path(sys.argv[1], run_name="__main__")
for name, value in names.items():
    if name.startswith("test_") and callable(value):
        value()
"""


def readme_blocks():
    """(heading above the block, its text) for each ```python block."""
    text = open(os.path.join(ROOT, "README.md"), encoding="utf-8").read()
    blocks, heading = [], ""
    for match in re.finditer(r"^(#+ [^\n]*)$|^( *)```python\n(.*?)^\2```", text, flags=re.M | re.S):
        if match.group(1):
            heading = match.group(1).lstrip("# ").strip()
            continue
        indent = len(match.group(2))
        code = "".join(line[indent:] for line in match.group(3).splitlines(keepends=True))
        blocks.append((heading, code))
    return blocks


BLOCKS = readme_blocks()


def test_readme_has_its_blocks():
    assert len(BLOCKS) >= 8


@pytest.mark.parametrize("heading, code", BLOCKS,
                         ids=[f"{k}-{re.sub(r'[^a-z]+', '_', h.lower())[:30]}" for k, (h, _) in enumerate(BLOCKS)])
def test_readme_block_runs_alone(heading, code, tmp_path):
    path = tmp_path / "block.py"
    path.write_text(code, encoding="utf-8")
    env = dict(os.environ, PYTHONPATH=ROOT + os.pathsep + os.environ.get("PYTHONPATH", ""),
               MPLBACKEND="Agg", TF_CPP_MIN_LOG_LEVEL="3")
    run = subprocess.run([sys.executable, "-c", RUN_BLOCK, str(path)], cwd=tmp_path, env=env,
                         capture_output=True, text=True, timeout=600)
    assert run.returncode == 0, f"README block under '{heading}' failed:\n{code}\n{run.stderr[-3000:]}"
