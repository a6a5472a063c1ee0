"""The built website in a real browser: every page loads offline, renders its math, shows its images, links to Colab.

Needs the site (``bash scripts/build_book.sh`` writes ``_build/html``) and Debian's Chromium at /usr/bin/chromium,
driven by the ``playwright`` package. Each page is served from 127.0.0.1 and must load nothing from anywhere else.
Screenshots go to ``test-artifacts/screenshots/`` (look at them).
"""
from __future__ import annotations

import functools
import http.server
import re
import threading
from pathlib import Path
from urllib.parse import urlsplit

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
SITE = ROOT / "_build" / "html"
CHROMIUM = Path("/usr/bin/chromium")
SHOTS = ROOT / "test-artifacts" / "screenshots"
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
        "--disable-sync", "--no-first-run", "--disable-quic"]
TIMEOUT_MS = 60_000   # api.html alone takes ~15 s on a quiet AMX Xeon, and two pages load at once (xdist)

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(not (SITE / "index.html").is_file(),
                       reason="no built site at _build/html/index.html: run 'bash scripts/build_book.sh' first"),
    pytest.mark.skipif(not CHROMIUM.is_file(), reason="no /usr/bin/chromium: apt-get install chromium"),
]


def _pages() -> list[str]:
    if not SITE.is_dir():
        return []
    return sorted(p.relative_to(SITE).as_posix() for p in SITE.rglob("*.html")
                  if not p.relative_to(SITE).parts[0].startswith("_"))


def _repository() -> tuple[str, str]:
    """(owner/name, branch) from the one place the repository lives: _config.yml."""
    repo = yaml.safe_load((ROOT / "_config.yml").read_text(encoding="utf-8"))["repository"]
    owner_name = re.sub(r"^https://github\.com/|/$|\.git$", "", repo["url"])
    return owner_name, repo.get("branch", "main")


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture(scope="module")
def server():
    handler = functools.partial(_QuietHandler, directory=str(SITE))
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}/"
    httpd.shutdown()
    httpd.server_close()


@pytest.fixture(scope="module")
def browser():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        b = pw.chromium.launch(executable_path=str(CHROMIUM), args=ARGS, headless=True)
        yield b
        b.close()


class Visit:
    """One page load with every request recorded; anything not from our server is blocked and reported."""

    def __init__(self, browser, base: str):
        self.base = base
        self.context = browser.new_context(viewport={"width": 1280, "height": 900})
        self.page = self.context.new_page()
        self.page.set_default_timeout(TIMEOUT_MS)
        self.remote: list[str] = []   # requests that left 127.0.0.1
        self.failed: list[str] = []   # local requests that failed or answered >= 400
        self.errors: list[str] = []   # uncaught JavaScript exceptions
        self.fonts: list[str] = []    # local font files fetched
        self.context.route("**/*", self._route)
        self.page.on("requestfailed", lambda r: self._local(r.url) and self.failed.append(f"{r.url} ({r.failure})"))
        self.page.on("response", self._response)
        self.page.on("pageerror", lambda e: self.errors.append(str(e)))

    def _local(self, url: str) -> bool:
        return url.startswith(self.base) or urlsplit(url).scheme in ("data", "blob", "about")

    def _route(self, route) -> None:
        url = route.request.url
        if self._local(url):
            route.continue_()
        else:
            self.remote.append(url)
            route.abort()

    def _response(self, response) -> None:
        if not self._local(response.url):
            return
        if response.status >= 400:
            self.failed.append(f"{response.url} (HTTP {response.status})")
        elif response.url.endswith((".woff", ".woff2")):
            self.fonts.append(response.url)

    def goto(self, path: str) -> None:
        self.page.goto(self.base + path, wait_until="load")
        self.page.wait_for_load_state("networkidle")

    def close(self) -> None:
        self.context.close()


def _screenshot(page, name: str) -> None:
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / (name.removesuffix(".html").replace("/", "__") + ".png")), full_page=True)


MATH_STATE = """() => {
  const maths = [...document.querySelectorAll('span.math, div.math')];
  const main = (document.querySelector('main') || document.body).cloneNode(true);
  main.querySelectorAll('pre, code, script, style, textarea').forEach(e => e.remove());
  const text = main.innerText;
  return {
    n: maths.length,
    unrendered: maths.filter(m => !m.querySelector('mjx-container')).map(m => m.textContent.slice(0, 60)),
    errors: [...document.querySelectorAll('mjx-merror')].map(e => e.getAttribute('data-mjx-error') || e.textContent),
    raw: ['$$', '\\\\(', '\\\\)', '\\\\[', '\\\\begin{'].filter(s => text.includes(s)),
  };
}"""

WIDE_CODE = """() => [...document.querySelectorAll('div.cell pre')]
  .filter(p => p.scrollWidth > p.clientWidth + 1)
  .map(p => (p.textContent.split('\\n').find(l => l.length > 0) || '').slice(0, 60))"""

BROKEN_IMAGES = """async () => {
  const imgs = [...document.images];
  imgs.forEach(i => { i.loading = 'eager'; });
  await Promise.all(imgs.map(i => i.complete ? null : new Promise(r => { i.onload = i.onerror = r; })));
  return imgs.filter(i => i.naturalWidth === 0).map(i => i.getAttribute('src'));
}"""


@pytest.mark.parametrize("path", _pages() or ["index.html"])
def test_page(browser, server, path: str) -> None:
    visit = Visit(browser, server)
    try:
        visit.goto(path)
        page = visit.page
        if page.locator("span.math, div.math").count():
            # MathJax typesets after load: wait for it to finish, then for the fonts it fetches.
            page.wait_for_function("() => window.MathJax && MathJax.startup && MathJax.startup.document"
                                   " && document.querySelector('mjx-container')")
            page.evaluate("() => MathJax.startup.promise")
            page.wait_for_load_state("networkidle")
            math = page.evaluate(MATH_STATE)
            assert not math["unrendered"], f"{path}: math left untypeset by MathJax: {math['unrendered']}"
            assert not math["errors"], f"{path}: MathJax errors: {math['errors']}"
            assert visit.fonts, f"{path}: has math but no MathJax font was loaded from the site"
        else:
            math = page.evaluate(MATH_STATE)
        assert not math["raw"], f"{path}: raw TeX delimiters {math['raw']} left in the page text"
        wide = page.evaluate(WIDE_CODE)
        assert not wide, f"{path}: code or output needs scrolling sideways at 1280 px (see _static/custom.css): {wide[:3]}"
        broken = page.evaluate(BROKEN_IMAGES)
        assert not broken, f"{path}: broken images {broken}"
        if path.startswith("chapters/") and path.endswith(".html"):
            owner_name, branch = _repository()
            want = (f"https://colab.research.google.com/github/{owner_name}/blob/{branch}/"
                    f"{path.removesuffix('.html')}.ipynb")
            hrefs = page.eval_on_selector_all("a[href*='colab.research.google.com']", "as => as.map(a => a.href)")
            assert want in hrefs, f"{path}: no Colab launch link to {want} (found {hrefs})"
        _screenshot(page, path)
        assert not visit.failed, f"{path}: failed local requests {visit.failed}"
        assert not visit.remote, f"{path}: requests to the internet {visit.remote}"
        assert not visit.errors, f"{path}: JavaScript errors {visit.errors}"
    finally:
        visit.close()


def test_search_finds_residual(browser, server) -> None:
    visit = Visit(browser, server)
    try:
        visit.goto("search.html?q=residual")
        results = visit.page.locator("#search-results ul.search > li")
        results.first.wait_for(state="visible")
        visit.page.wait_for_load_state("networkidle")
        n = results.count()
        _screenshot(visit.page, "search_residual")
        assert n > 0, "search for 'residual' found nothing"
        assert not visit.failed, f"search: failed local requests {visit.failed}"
        assert not visit.remote, f"search: requests to the internet {visit.remote}"
        assert not visit.errors, f"search: JavaScript errors {visit.errors}"
    finally:
        visit.close()


def _built_from(path: str) -> Path | None:
    """The notebook a chapter page was rendered from: myst-nb's copy of it, with the outputs the page shows."""
    nb = ROOT / "_build" / "jupyter_execute" / path.replace(".html", ".ipynb")
    return nb if nb.is_file() else None


def _images_and_first_text(nb_path: Path, figure_cells: list[str]) -> tuple[int, str | None]:
    """Output images and the first printed line of a notebook; cells that make a pyplot figure go to figure_cells."""
    import nbformat

    nb = nbformat.read(str(nb_path), as_version=4)
    images, text = 0, None
    for cell in nb.cells:
        if cell.cell_type == "code" and "plt.subplots(" in cell.source:
            figure_cells.append(cell.source.splitlines()[0])
        for out in cell.get("outputs", []) if cell.cell_type == "code" else []:
            if out.output_type in ("display_data", "execute_result") and "image/png" in out.get("data", {}):
                images += 1
            if text is None and out.output_type == "stream" and out.text.strip():
                text = out.text.strip().splitlines()[0]
    return images, text


@pytest.mark.parametrize("path", [p for p in _pages() if p.startswith("chapters/")] or ["chapters/none.html"])
def test_chapter_page_shows_its_execution(browser, server, path: str) -> None:
    """Every figure and the first printed line of the execution the page was built from are on the page."""
    nb_path = _built_from(path)
    assert nb_path is not None, f"{path}: no executed notebook under _build/jupyter_execute for it"
    figure_cells: list[str] = []
    images, first_line = _images_and_first_text(nb_path, figure_cells)
    assert images >= len(figure_cells), (f"{path}: {len(figure_cells)} cells make a figure but the execution holds "
                                         f"{images} images (inline backend lost?)")
    visit = Visit(browser, server)
    try:
        visit.goto(path)
        shown = visit.page.locator(".cell_output img").count()
        text = visit.page.locator("main").inner_text()
    finally:
        visit.close()
    assert shown == images, f"{path}: the page shows {shown} output images, its executed notebook has {images}"
    if first_line is not None:
        assert " ".join(first_line.split()) in " ".join(text.split()), \
            f"{path}: the executed notebook's first printed line {first_line!r} is not on the page"
