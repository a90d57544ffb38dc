"""Benchmark: vectorized ``bsm_greeks`` against the option-by-option ``mibian_greeks``.

Run with ``python tests/benchmarks/bench_greeks.py`` (``make bench``). One run
measures, on random options of one distribution (fixed seed, calls and puts,
half of them with a dividend yield so both mibian.BS and mibian.Me are used):

* ``bsm_greeks`` on 1,000,000 options, median of 5 timed runs;
* ``mibian_greeks`` on the first 2,000 of them, median of 3 timed runs;
* both as options per second, and their ratio (goal: at least 3,000x);
* the largest absolute difference of every Greek on the 2,000 (goal: 1e-10).

Exits non-zero when a goal is missed. Takes about 10-15 s.
"""

from __future__ import annotations

import argparse
import sys

import numpy as np

from sigmasight_lib.engines.greeks import GREEK_COLUMNS, bsm_greeks, mibian_greeks

try:
    from ._harness import environment, max_abs_diff, measure, report, speedup_row, tolerance_row
except ImportError:  # run as a script: the benchmarks folder is sys.path[0]
    from _harness import environment, max_abs_diff, measure, report, speedup_row, tolerance_row

SEED = 20240115
N_VECTORIZED = 1_000_000
N_MIBIAN = 2_000
GOAL_SPEEDUP = 3_000.0
GOAL_MAX_DIFF = 1e-10


def random_options(n: int, seed: int = SEED) -> dict[str, np.ndarray]:
    """Valid options: spot 5-500, strike 70-130 % of spot, 1-730 days, rate 0-6 %, vol 5-90 %."""
    rng = np.random.default_rng(seed)
    spot = rng.uniform(5.0, 500.0, n)
    return {
        "kind": rng.choice(np.array(["call", "put"]), n),
        "spot": spot,
        "strike": spot * rng.uniform(0.7, 1.3, n),
        "years": rng.integers(1, 731, n) / 365.0,
        "rate": rng.uniform(0.0, 0.06, n),
        "vol": rng.uniform(0.05, 0.90, n),
        "dividend_yield": np.where(rng.random(n) < 0.5, 0.0, rng.uniform(0.0, 0.05, n)),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--options", type=int, default=N_VECTORIZED, help="bsm_greeks batch size")
    parser.add_argument("--sample", type=int, default=N_MIBIAN, help="mibian_greeks sample size")
    parser.add_argument("--repeats", type=int, default=5, help="timed runs of bsm_greeks")
    args = parser.parse_args(argv)

    options = random_options(max(args.options, args.sample))
    big = {name: values[: args.options] for name, values in options.items()}
    sample = {name: values[: args.sample] for name, values in options.items()}

    fast = measure(lambda: bsm_greeks(**big), repeats=args.repeats, warmup=1)
    slow = measure(lambda: mibian_greeks(**sample), repeats=3, warmup=0)
    fast_rate = args.options / fast.median
    slow_rate = args.sample / slow.median

    assert fast.result["reason"].isna().all(), "the benchmark draws only valid options"
    ours = bsm_greeks(**sample)
    theirs = slow.result

    rows = [
        speedup_row(
            "throughput: bsm_greeks vs mibian_greeks",
            fast_rate,
            slow_rate,
            GOAL_SPEEDUP,
            unit="options/s",
        )
    ]
    rows += [
        tolerance_row(
            f"max |{greek} - mibian|", max_abs_diff(ours[greek], theirs[greek]), GOAL_MAX_DIFF
        )
        for greek in GREEK_COLUMNS
    ]
    print(f"Greeks benchmark ({environment()})")
    print(
        f"bsm_greeks:    {args.options:,} options, median of {args.repeats} runs "
        f"{fast.median * 1e3:.1f} ms (runs: {', '.join(f'{s * 1e3:.0f}' for s in fast.seconds)} ms)"
    )
    print(
        f"mibian_greeks: {args.sample:,} options, median of 3 runs {slow.median:.2f} s "
        f"({slow.median / args.sample * 1e6:.0f} us per option)"
    )
    print()
    return 0 if report(rows) else 1


if __name__ == "__main__":
    sys.exit(main())
