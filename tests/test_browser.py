"""The batch's HTML pages in a real browser (issue 14 item 9): headless system Chromium.

Per page: no console error, no page error, no request but the file itself and
``data:`` URIs, no horizontal overflow at 1280 px, every ``<img>`` decoded; a
full-page screenshot is saved under the test's ``tmp_path``. The pages come from
the session's demo batch (``demo_batch``) and its failed-notebook batch
(``failed_render_batch``). Without chromium the tests skip locally and fail in CI.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.browser import BrowserUnavailable, check_page, open_browser
from tests.conftest import IN_CI, DemoBatch

#: Page id → (batch fixture, the page's path from that batch's portfolio folder).
PAGES: dict[str, tuple[str, Callable[[DemoBatch], Path]]] = {
    "index": ("demo_batch", lambda b: b.settings.outputs_dir / "index.html"),
    "report": ("demo_batch", lambda b: b.portfolio_dir / "report.html"),
    "engine-stress": (
        "demo_batch",
        lambda b: (
            b.portfolio_dir.parent / "long-short-hedge-fund-style" / "html" / "06_stress.html"
        ),
    ),
    "failed-exposures": (
        "failed_render_batch",
        lambda b: b.portfolio_dir / "html" / "03_exposures.html",
    ),
}


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    """The system chromium under playwright, one per module."""
    with contextlib.ExitStack() as stack:
        try:
            opened = stack.enter_context(open_browser())
        except BrowserUnavailable as exc:
            if IN_CI:
                pytest.fail(f"{exc}; CI requires the browser tests")
            pytest.skip(str(exc))
        yield opened


@pytest.mark.parametrize("page_id", PAGES)
def test_page_opens_clean_in_a_browser(
    page_id: str, browser: Any, request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    fixture, locate = PAGES[page_id]
    page = locate(request.getfixturevalue(fixture))
    assert page.exists(), f"{page_id}: the batch wrote no {page}"
    start = time.perf_counter()
    result = check_page(browser, page, screenshot=tmp_path / f"{page_id}.png")
    print(f"{page_id}: {page.name} checked in {time.perf_counter() - start:.1f} s, "
          f"screenshot {result.screenshot}")  # fmt: skip
    assert not result.problems(), f"{page_id} ({page}):\n" + "\n".join(result.problems())
    assert result.screenshot is not None and result.screenshot.stat().st_size > 0
    if page_id in ("report", "engine-stress"):  # charts inline: the image check saw them
        assert result.images > 0, f"{page_id}: no <img> on the page"


def test_checker_fails_each_check_on_a_broken_page(browser: Any, tmp_path: Path) -> None:
    """The checks cannot pass vacuously: each fault of a hand-written page is caught."""
    bad = tmp_path / "bad.html"
    bad.write_text(
        "<!DOCTYPE html><html><head><meta charset='utf-8'><title>bad</title></head><body>"
        "<img alt='broken' src='data:image/png;base64,AAAA'>"
        "<script>console.error('checker self-test');</script>"
        "<script>throw new Error('uncaught in self-test');</script>"
        "<img alt='network' src='http://example.invalid/x.png'>"
        "<div id='wide' style='width: 2000px'>wide</div>"
        "</body></html>",
        encoding="utf-8",
    )
    start = time.perf_counter()
    result = check_page(browser, bad, screenshot=tmp_path / "bad.png")
    assert time.perf_counter() - start < 10  # the network image was blocked, not waited for
    assert any("checker self-test" in m for m in result.console_errors), result.console_errors
    assert any("uncaught in self-test" in m for m in result.page_errors), result.page_errors
    assert result.requests == ["http://example.invalid/x.png"]
    assert result.scroll_width >= 2000
    assert any(m.startswith("div#wide (right edge 20") for m in result.overflowing), (
        result.overflowing
    )
    assert len(result.broken_images) == 2 and result.images == 2, result.broken_images
    problems = result.problems()
    assert len(problems) == 5 and all(p.startswith("bad.html: ") for p in problems), problems

    good = tmp_path / "good.html"
    pixel = (  # a 1×1 PNG
        "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8BQDwAEhQGAhKmMIQAAAABJRU5ErkJggg=="
    )
    good.write_text(
        "<!DOCTYPE html><html><head><meta charset='utf-8'><title>good</title></head><body>"
        f"<img alt='pixel' src='data:image/png;base64,{pixel}'>"
        "<div style='width: 1200px'>fits</div></body></html>",
        encoding="utf-8",
    )
    result = check_page(browser, good)
    assert result.problems() == [] and result.images == 1 and result.scroll_width == 1280
