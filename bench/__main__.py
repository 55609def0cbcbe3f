"""Run every benchmark and print one table: python -m bench"""

from __future__ import annotations

from bench import ledger, render


def main() -> None:
    rows = render.run() + ledger.run()
    width = max(len(name) for name, _, _ in rows)
    print(f"{'benchmark':{width}}  {'measured':46}  target")
    for name, figure, target in rows:
        print(f"{name:{width}}  {figure:46}  {target}")


if __name__ == "__main__":
    main()
