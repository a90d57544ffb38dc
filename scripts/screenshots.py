"""Write README's screenshots of a report and of one engine render from an outputs folder.

Usage (after ``make demo``, which fills ``outputs/``)::

    .venv/bin/python scripts/screenshots.py [--outputs-dir outputs] [--out-dir docs/screenshots]

Writes ``report.png`` (``report.html`` of Long/Short Hedge Fund Style at the newest
as-of date) and ``engine-stress.png`` (its ``html/06_stress.html``): the top
1280 × 1600 px of each page in the system chromium (``tests/browser.py``, as the
browser tests open them), quantized to at most 256 colours so each stays small.
A page that fails a browser check is still captured; the check's findings are
printed as warnings.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path

REPO_DIR = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO_DIR))

from PIL import Image  # noqa: E402

from tests.browser import VIEWPORT_WIDTH, check_page, open_browser  # noqa: E402

PORTFOLIO_SLUG = "long-short-hedge-fund-style"
SHOTS = {"report.png": "report.html", "engine-stress.png": "html/06_stress.html"}
"""Screenshot file → page, relative to the portfolio's folder."""
HEIGHT = 1600
"""px of each page captured, from the top."""


def portfolio_dir(outputs_dir: Path, slug: str = PORTFOLIO_SLUG) -> Path:
    """``outputs_dir/<newest as-of>/<slug>``; SystemExit when no batch wrote it."""
    folders = sorted(p for p in outputs_dir.glob(f"*/{slug}") if (p / "report.html").exists())
    if not folders:
        raise SystemExit(f"error: no {slug}/report.html under {outputs_dir}: run make demo first")
    return folders[-1]


def save_small_png(source: Path, target: Path, colors: int = 256) -> None:
    """``source`` PNG quantized to at most ``colors`` colours (no dithering), saved optimized."""
    with Image.open(source) as image:
        small = image.convert("RGB").quantize(colors=colors, dither=Image.Dither.NONE)
    target.parent.mkdir(parents=True, exist_ok=True)
    small.save(target, optimize=True)


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--outputs-dir", type=Path, default=REPO_DIR / "outputs")
    parser.add_argument("--out-dir", type=Path, default=REPO_DIR / "docs" / "screenshots")
    args = parser.parse_args(argv)
    folder = portfolio_dir(args.outputs_dir)
    with tempfile.TemporaryDirectory() as tmp, open_browser() as browser:
        for name, page in SHOTS.items():
            raw = Path(tmp) / name
            result = check_page(
                browser, folder / page, screenshot=raw, width=VIEWPORT_WIDTH, height=HEIGHT,
                full_page=False,
            )  # fmt: skip
            for problem in result.problems():
                print(f"warning: {problem}", file=sys.stderr)
            save_small_png(raw, args.out_dir / name)
            size = (args.out_dir / name).stat().st_size
            print(f"{args.out_dir / name}: {folder / page}, {size / 1024:.0f} KB")


if __name__ == "__main__":
    main()
