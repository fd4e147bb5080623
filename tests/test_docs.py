"""The documentation site, checked as a reader sees it.

Builds the site (``python -m mkdocs build --strict``: every equation tag, source anchor,
test reference and README section it reads must exist, and every page's build-time
computation must run), serves it on 127.0.0.1 and opens the pages in headless Chromium
(Debian's ``chromium``, driven through the DevTools protocol over a pipe).  On each page:
the math is typeset (KaTeX elements present, no raw ``\\(``, ``\\[`` or ``$$`` left in the
visible text, no KaTeX error), every image has loaded (natural width > 0), no request
failed, and every link into the site reaches an existing page and anchor.  On the cell
pages every equation row holds typeset math beside its source lines.

Set MINIRNN_DOCS_SCREENSHOTS=<folder> to keep full-page screenshots of the cell pages.
"""
import base64
import http.server
import json
import os
import re
import select
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")
# each cell page and the file whose equations (F1..., B1... in its docstring) it must show
CELL_PAGES = {"cells/simple_rnn.html": "minirnn/cells/simple_rnn.py", "cells/lstm.html": "minirnn/cells/lstm.py",
              "cells/gru.html": "minirnn/cells/gru.py", "cells/peephole.html": "examples/custom_cell.py"}
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--hide-scrollbars", "--remote-debugging-pipe"]


class Browser:
    """Chromium over the DevTools protocol on a pipe (fds 3 and 4): no port, no extra package."""

    def __init__(self, profile):
        to_chrome_r, self._to_chrome = os.pipe()
        self._from_chrome, from_chrome_w = os.pipe()

        def fds():                      # in the child: the pipe ends as fds 3 and 4, whatever they were
            ours, theirs = os.dup(to_chrome_r), os.dup(from_chrome_w)
            os.dup2(ours, 3)
            os.dup2(theirs, 4)

        self.process = subprocess.Popen([CHROMIUM, *FLAGS, f"--user-data-dir={profile}", "about:blank"],
                                        preexec_fn=fds, pass_fds=(3, 4),
                                        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        os.close(to_chrome_r)
        os.close(from_chrome_w)
        self._buffer, self._next_id, self.events = b"", 0, []
        target = self.call("Target.createTarget", url="about:blank")["targetId"]
        self.session = self.call("Target.attachToTarget", targetId=target, flatten=True)["sessionId"]
        for domain in ("Page", "Runtime", "Network"):
            self.call(f"{domain}.enable", session=True)
        self.call("Emulation.setDeviceMetricsOverride", session=True, width=1400, height=900,
                  deviceScaleFactor=1, mobile=False)

    def _read(self, timeout):
        deadline = time.monotonic() + timeout
        while b"\0" not in self._buffer:
            ready, _, _ = select.select([self._from_chrome], [], [], max(deadline - time.monotonic(), 0))
            if not ready:
                raise TimeoutError(f"Chromium did not answer within {timeout} s")
            chunk = os.read(self._from_chrome, 1 << 16)
            if not chunk:
                raise RuntimeError("Chromium closed the DevTools pipe")
            self._buffer += chunk
        message, self._buffer = self._buffer.split(b"\0", 1)
        return json.loads(message)

    def call(self, method, session=False, timeout=60, **params):
        self._next_id += 1
        message = {"id": self._next_id, "method": method, "params": params}
        if session:
            message["sessionId"] = self.session
        os.write(self._to_chrome, json.dumps(message).encode() + b"\0")
        while True:
            reply = self._read(timeout)
            if reply.get("id") == self._next_id:
                if "error" in reply:
                    raise RuntimeError(f"{method}: {reply['error']}")
                return reply["result"]
            self.events.append(reply)

    def wait_for(self, method, timeout=60):
        deadline = time.monotonic() + timeout
        while True:
            for k, event in enumerate(self.events):
                if event.get("method") == method:
                    return self.events.pop(k)
            self.events.append(self._read(max(deadline - time.monotonic(), 0.1)))

    def open(self, url):
        self.events.clear()
        self.call("Page.navigate", session=True, url=url)
        self.wait_for("Page.loadEventFired")
        self.evaluate("document.fonts.ready.then(() => true)")

    def evaluate(self, expression):
        result = self.call("Runtime.evaluate", session=True, expression=expression, returnByValue=True,
                           awaitPromise=True)
        if "exceptionDetails" in result:
            raise RuntimeError(f"{expression[:60]}...: {result['exceptionDetails']}")
        return result["result"].get("value")

    def failed_requests(self):
        return [e["params"] for e in self.events if e.get("method") == "Network.loadingFailed"]

    def screenshot(self, path):
        data = self.call("Page.captureScreenshot", session=True, format="png", captureBeyondViewport=True)["data"]
        Path(path).write_bytes(base64.b64decode(data))

    def close(self):
        try:
            self.call("Browser.close", timeout=10)
        except (RuntimeError, TimeoutError, OSError):
            pass
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
        os.close(self._to_chrome)
        os.close(self._from_chrome)


PAGE_FACTS = r"""(() => {
  const text = document.body.innerText;
  const raw = ["\\(", "\\[", "$$", "\\begin{", "\\frac"].filter(s => text.includes(s));
  const images = [...document.images].map(i => ({src: i.src.slice(0, 80), ok: i.complete && i.naturalWidth > 0}));
  const rows = [...document.querySelectorAll(".eq-row")].map(r => ({
    id: r.id, math: r.querySelectorAll(".eq-math .katex-display .katex-html").length,
    code: (r.querySelector(".eq-code code") || {textContent: ""}).textContent.trim().length,
    left: r.querySelector(".eq-math").getBoundingClientRect().left,
    right: r.querySelector(".eq-code").getBoundingClientRect().left}));
  const untypeset = [...document.querySelectorAll(".arithmatex")].filter(e => !e.querySelector(".katex")).length;
  return {raw, images, rows, untypeset, katex: document.querySelectorAll(".katex").length,
          errors: document.querySelectorAll(".katex-error").length,
          links: [...document.querySelectorAll("a[href]")].map(a => a.href)};
})()"""


@pytest.fixture(scope="module")
def site():
    """The site built from this checkout into a temporary folder, served on 127.0.0.1."""
    folder = Path(tempfile.mkdtemp(prefix="minirnn-site-"))
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]),
               NO_MKDOCS_2_WARNING="1")
    start = time.perf_counter()
    done = subprocess.run([sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir", str(folder)],
                          cwd=ROOT, env=env, capture_output=True, text=True, timeout=900)
    seconds = time.perf_counter() - start
    assert done.returncode == 0, f"mkdocs build --strict failed:\n{done.stdout[-4000:]}\n{done.stderr[-8000:]}"
    print(f"site built in {seconds:.1f} s")

    handler = type("Quiet", (http.server.SimpleHTTPRequestHandler,), {"log_message": lambda *a: None})
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), lambda *a: handler(*a, directory=str(folder)))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield folder, f"http://127.0.0.1:{server.server_address[1]}/"
    server.shutdown()
    shutil.rmtree(folder, ignore_errors=True)


@pytest.fixture(scope="module")
def browser():
    if not Path(CHROMIUM).exists():
        pytest.fail(f"{CHROMIUM} not found: the docs test needs Debian's chromium "
                    "(`apt-get install -y chromium`, as .ci/run does)")
    profile = tempfile.mkdtemp(prefix="minirnn-chromium-")
    b = Browser(profile)
    yield b
    b.close()
    shutil.rmtree(profile, ignore_errors=True)


def ids_in(page):
    return set(re.findall(r'\bid="([^"]+)"', page.read_text(encoding="utf-8")))


def check_links(folder, base, page, links):
    """Every link into the site: the page exists, and so does the anchor it names."""
    broken = []
    for link in links:
        if not link.startswith(base):           # outside the site: not ours to check (and no network)
            continue
        url = urllib.parse.urlsplit(link[len(base):])
        path = urllib.parse.unquote(url.path) or "index.html"
        target = folder / path
        if target.is_dir():
            target = target / "index.html"
        if not target.is_file():
            broken.append(link)
        elif url.fragment and target.suffix == ".html" and urllib.parse.unquote(url.fragment) not in ids_in(target):
            broken.append(link)
    assert not broken, f"{page}: broken links {broken}"


def docstring_tags(path):
    """The equation labels that open a line of a file's module docstring."""
    text = (ROOT / path).read_text(encoding="utf-8")
    doc = re.match(r'\s*r?"""(.*?)"""', text, re.S).group(1)
    return set(re.findall(r"^\s*([FB]\d+'?)\s", doc, re.M))


def row_tags(row_id):
    """Row id "f1-f2" -> {"F1", "F2"}; "b4p" -> {"B4'"}."""
    return {t.upper().replace("P", "'") for t in row_id.split("-")}


def all_pages(folder):
    return sorted(str(p.relative_to(folder)) for p in folder.rglob("*.html")
                  if p.name != "404.html" and "assets" not in p.parts)


def test_every_page_renders_its_math_images_and_links(browser, site):
    folder, base = site
    pages = all_pages(folder)
    assert set(CELL_PAGES) <= set(pages), f"cell pages missing from the site: {set(CELL_PAGES) - set(pages)}"
    shots = os.environ.get("MINIRNN_DOCS_SCREENSHOTS")
    for page in pages:
        browser.open(base + page)
        facts = browser.evaluate(PAGE_FACTS)
        assert not facts["raw"], f"{page}: raw TeX in the visible text: {facts['raw']}"
        assert facts["errors"] == 0, f"{page}: {facts['errors']} KaTeX errors"
        assert facts["untypeset"] == 0, f"{page}: {facts['untypeset']} formulas left untypeset"
        bad = [i["src"] for i in facts["images"] if not i["ok"]]
        assert not bad, f"{page}: images that did not load: {bad}"
        failed = browser.failed_requests()
        assert not failed, f"{page}: failed requests {failed}"
        check_links(folder, base, page, facts["links"])
        if page in CELL_PAGES:
            assert facts["katex"] > 0, f"{page}: no typeset math"
            rows = facts["rows"]
            shown = set().union(*(row_tags(r["id"]) for r in rows if not r["id"].startswith("fused-")))
            missing = docstring_tags(CELL_PAGES[page]) - shown
            assert not missing, f"{page}: equations of {CELL_PAGES[page]} not shown: {sorted(missing)}"
            for row in rows:
                assert row["math"] == 1 and row["code"] > 0, f"{page}: row {row['id']} lacks math or code: {row}"
                assert row["right"] > row["left"], f"{page}: row {row['id']}: the code is not beside the equation"
            if shots:
                Path(shots).mkdir(parents=True, exist_ok=True)
                browser.screenshot(Path(shots) / (Path(page).stem + ".png"))
