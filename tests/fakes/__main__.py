"""Run one fake provider standalone: python -m tests.fakes <family> --port N

Then point veo-bot at it, e.g.
    USEAPI_TOKEN=user:1-test USEAPI_BASE_URL=http://127.0.0.1:N veo-bot try ... --provider useapi
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import importlib

FAMILIES = ("useapi", "gateway", "aimlapi", "gemini", "vertex", "fal", "replicate", "openrouter")


async def serve(family: str, port: int, job_duration_s: float) -> None:
    module = importlib.import_module(f"tests.fakes.{family}")
    fake = module.create(job_duration_s=job_duration_s)
    base = await fake.start(port)
    # A fake whose keys depend on its address (a key file naming its token endpoint) says so.
    hint = module.standalone_hint(fake) if hasattr(module, "standalone_hint") else None
    print(f"fake {family} API on {base} (keys: {hint or module.STANDALONE_HINT})", flush=True)
    try:
        await asyncio.Event().wait()
    finally:
        await fake.close()


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m tests.fakes")
    parser.add_argument("family", choices=FAMILIES)
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--job-seconds", type=float, default=5.0, help="how long a job runs")
    args = parser.parse_args()
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(serve(args.family, args.port, args.job_seconds))


if __name__ == "__main__":
    main()
