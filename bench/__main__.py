"""`python -m bench [NAME ...] [OPTIONS]`: run benchmarks in turn, each printing its figures.

With no NAME, every benchmark of BENCHMARKS runs, in order. OPTIONS go to each one
(`python -m bench availability --seconds 10`); when several run, options that one of
them does not know are skipped for it. Each benchmark starts (and stops) its own
PostgreSQL, Redis and API unless DATABASE_URL / REDIS_URL are set.

A benchmark is a module `bench.<name>` with `main(argv, *, strict) -> int` (0 when it
ran without errors; missed targets are printed, not failed).
"""

from __future__ import annotations

import importlib
import sys
import time

from bench.common import install_signal_handlers

# Append new benchmarks here (later: place_order, orders_page, subscriptions, reports,
# channel_publish).
BENCHMARKS: list[str] = [
    "availability",
    "stock_sync",
    "place_order",
    "orders_page",
    "subscriptions",
    "reports",
    "channel_publish",
    "delivery",
]


def main(argv: list[str]) -> int:
    names: list[str] = []
    while argv and not argv[0].startswith("-"):
        names.append(argv.pop(0))
    if argv and argv[0] in ("-h", "--help") and not names:
        print(__doc__)
        print("benchmarks: " + ", ".join(BENCHMARKS))
        return 0
    unknown = [n for n in names if n not in BENCHMARKS]
    if unknown:
        print(f"unknown benchmark {', '.join(unknown)}; choose from {', '.join(BENCHMARKS)}")
        return 2
    selected = names or BENCHMARKS
    failed = []
    for i, name in enumerate(selected):
        if i:
            print()
        started = time.monotonic()
        module = importlib.import_module(f"bench.{name}")
        try:
            status = module.main(list(argv), strict=len(selected) == 1)
        except Exception as exc:  # report and go on with the next benchmark
            print(f"{name}: FAILED: {type(exc).__name__}: {exc}")
            status = 1
        print(f"  ({name} took {time.monotonic() - started:.0f} s in all)", flush=True)
        if status:
            failed.append(name)
    if failed:
        print(f"\nbenchmarks with errors: {', '.join(failed)}")
    return 1 if failed else 0


if __name__ == "__main__":
    install_signal_handlers()
    sys.exit(main(sys.argv[1:]))
