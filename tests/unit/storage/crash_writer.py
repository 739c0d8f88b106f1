"""Run by test_crash.py as a separate process: write as fast as possible, print each acknowledged key."""

import asyncio
import sys
from pathlib import Path

from minik.storage import running_store


async def main(path: Path, start: int) -> None:
    async with running_store(path) as store:
        async def writer(worker: int) -> None:
            i = 0
            while True:
                key = f"/crash/{start}-{worker}-{i}"
                kv = await store.create(key, key.encode() * 8)
                # One line per acknowledged write, flushed before the next write starts.
                sys.stdout.write(f"{key} {kv.mod_revision}\n")
                sys.stdout.flush()
                i += 1

        await asyncio.gather(*(writer(w) for w in range(16)))


if __name__ == "__main__":
    asyncio.run(main(Path(sys.argv[1]), int(sys.argv[2])))
