"""Run every benchmark and print one table: python -m bench"""

from __future__ import annotations

import time

from bench import (
    ack,
    chart,
    e2e,
    images,
    ledger,
    relay,
    render,
    replicas,
    scale,
    store_race,
    vertex_inline,
    webhooks,
)


def main() -> None:
    start = time.perf_counter()
    rows = []
    modules = (
        render,
        images,
        ledger,
        store_race,
        ack,
        e2e,
        scale,
        replicas,
        webhooks,
        relay,
        vertex_inline,
        chart,
    )
    for module in modules:
        rows += module.run()
    width = max(len(name) for name, _, _ in rows)
    figures = max(46, *(len(figure) for _, figure, _ in rows))
    print(f"{'benchmark':{width}}  {'measured':{figures}}  target")
    for name, figure, target in rows:
        print(f"{name:{width}}  {figure:{figures}}  {target}")
    print(f"(all benchmarks: {time.perf_counter() - start:.0f} s)")


if __name__ == "__main__":
    main()
