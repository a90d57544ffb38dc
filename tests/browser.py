"""Open SigmaSight's HTML pages in headless Chromium and check them as a reader's browser does.

Used by ``tests/test_browser.py`` and ``scripts/screenshots.py``. The browser is the
system's ``chromium`` (Debian's package, which ``.ci/run`` installs) driven by
playwright-python; playwright's own browser downloads are never used.

A page passes when it logs no console error and raises no page error, asks for
nothing but itself and ``data:`` URIs (every other request is recorded and aborted,
so a page reaching for the network fails fast), is no wider than the viewport
(``document.documentElement.scrollWidth`` at 1280 px) and every ``<img>`` has
decoded (``complete``, ``naturalWidth > 0`` and ``img.decode()`` resolves).
"""

from __future__ import annotations

import contextlib
import shutil
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

VIEWPORT_WIDTH = 1280
"""px; the width every page must fit (no horizontal scroll bar)."""

INSTALL_HINT = "install Debian's chromium (apt-get install chromium; .ci/run does)"

_IMAGES_JS = """
async () => {
  const broken = [];
  const images = Array.from(document.images);
  for (const img of images) {
    const what = `<img src="${img.getAttribute("src").slice(0, 60)}">`;
    if (!(img.complete && img.naturalWidth > 0)) {
      broken.push(`${what}: complete=${img.complete}, naturalWidth=${img.naturalWidth}`);
      continue;
    }
    try { await img.decode(); } catch (e) { broken.push(`${what}: decode() failed: ${e}`); }
  }
  return [images.length, broken];
}
"""

_OVERFLOW_JS = """
(width) => {
  const clipped = (el) => {
    for (let a = el.parentElement; a && a !== document.body; a = a.parentElement) {
      if (getComputedStyle(a).overflowX !== "visible") return true;
    }
    return false;
  };
  const describe = (el) => {
    let name = el.tagName.toLowerCase();
    if (el.id) name += "#" + el.id;
    if (typeof el.className === "string" && el.className.trim()) {
      name += "." + el.className.trim().split(/\\s+/).join(".");
    }
    const text = (el.innerText || "").replace(/\\s+/g, " ").trim().slice(0, 60);
    const right = Math.round(el.getBoundingClientRect().right);
    return `${name} (right edge ${right} px${text ? `; "${text}"` : ""})`;
  };
  const over = (el) => el.getBoundingClientRect().right > width + 0.5;
  const all = Array.from(document.body.querySelectorAll("*")).filter(
    (el) => over(el) && !clipped(el));
  // the outermost offenders: their parent still fits (or is the body)
  const outermost = all.filter((el) => el.parentElement === document.body
    || !over(el.parentElement));
  return [document.documentElement.scrollWidth, all.length, outermost.map(describe)];
}
"""


class BrowserUnavailable(RuntimeError):
    """playwright or the system chromium is missing; the message says what to install."""


def chromium_path() -> str | None:
    """Path of the system ``chromium`` on PATH, or None."""
    return shutil.which("chromium")


@contextlib.contextmanager
def open_browser() -> Iterator[Any]:
    """A headless playwright ``Browser`` on the system chromium, closed afterwards.

    Raises
    ------
    BrowserUnavailable
        playwright is not installed (``pip install -e ".[dev]"``) or ``chromium`` is not
        on PATH.
    """
    try:
        from playwright.sync_api import sync_playwright
    except ImportError as exc:
        raise BrowserUnavailable(
            f'playwright is not installed ({exc}); pip install -e ".[dev]"'
        ) from exc
    executable = chromium_path()
    if executable is None:
        raise BrowserUnavailable(f"no chromium on PATH; {INSTALL_HINT}")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=executable)
        try:
            yield browser
        finally:
            browser.close()


@dataclass
class PageCheck:
    """What :func:`check_page` saw on one page; :meth:`problems` is empty when it passes."""

    page: Path
    console_errors: list[str] = field(default_factory=list)
    page_errors: list[str] = field(default_factory=list)
    requests: list[str] = field(default_factory=list)
    """URLs asked for other than the page itself and ``data:`` URIs (all were aborted)."""
    scroll_width: int = 0
    """``document.documentElement.scrollWidth`` in px."""
    overflowing: list[str] = field(default_factory=list)
    """The outermost elements whose right edge is past the viewport, when the page is wider."""
    overflow_count: int = 0
    """How many elements in all end past the viewport (children of the outermost included)."""
    images: int = 0
    broken_images: list[str] = field(default_factory=list)
    width: int = VIEWPORT_WIDTH
    screenshot: Path | None = None

    def problems(self) -> list[str]:
        """One line per failed check, each naming the page; empty when every check passed."""
        name, out = self.page.name, []
        if self.console_errors:
            out.append(f"{name}: console errors: {self.console_errors}")
        if self.page_errors:
            out.append(f"{name}: page errors (uncaught exceptions): {self.page_errors}")
        if self.requests:
            out.append(f"{name}: requests beyond the file itself and data: URIs: {self.requests}")
        if self.scroll_width > self.width:
            out.append(
                f"{name}: {self.scroll_width} px wide, wider than the {self.width} px viewport; "
                f"{self.overflow_count} elements end past {self.width} px, outermost: "
                + "; ".join(self.overflowing[:15])
                + (f"; … {len(self.overflowing) - 15} more" if len(self.overflowing) > 15 else "")
            )
        if self.broken_images:
            out.append(f"{name}: images not decoded: {self.broken_images}")
        return out


def check_page(
    browser: Any,
    page: Path,
    screenshot: Path | None = None,
    width: int = VIEWPORT_WIDTH,
    height: int = 800,
    full_page: bool = True,
) -> PageCheck:
    """Open the local file ``page`` in a fresh context ``width`` × ``height`` px and check it.

    Parameters
    ----------
    browser : playwright Browser
        From :func:`open_browser`.
    page : Path
        An HTML file on disk.
    screenshot : Path, optional
        Where to save a PNG; default None (no screenshot).
    width, height : int
        The viewport in px; default 1280 × 800.
    full_page : bool
        Screenshot the whole page (default) or only the viewport.

    Returns
    -------
    PageCheck
        Every finding; ``problems()`` lists the failed checks.
    """
    url = page.resolve().as_uri()
    result = PageCheck(page=page, width=width)
    context = browser.new_context(viewport={"width": width, "height": height})
    try:
        tab = context.new_page()

        def allowed(request_url: str) -> bool:
            return request_url == url or request_url.startswith("data:")

        def on_request(request: Any) -> None:
            if not allowed(request.url):
                result.requests.append(request.url)

        def route(r: Any) -> None:  # block: nothing leaves the machine, failures come fast
            if allowed(r.request.url):
                r.continue_()
            else:
                r.abort()

        tab.on("request", on_request)
        tab.on(
            "console",
            lambda m: m.type == "error" and result.console_errors.append(m.text),
        )
        tab.on("pageerror", lambda e: result.page_errors.append(str(e)))
        context.route("**/*", route)
        tab.goto(url, wait_until="load")
        result.images, result.broken_images = tab.evaluate(_IMAGES_JS)
        result.scroll_width, result.overflow_count, result.overflowing = tab.evaluate(
            _OVERFLOW_JS, width
        )
        if screenshot is not None:
            screenshot.parent.mkdir(parents=True, exist_ok=True)
            tab.screenshot(path=str(screenshot), full_page=full_page)
            result.screenshot = screenshot
    finally:
        context.close()
    return result
