"""``livefeed push`` under tracemalloc, for ``bench.readers``: SIGUSR1 writes a snapshot.

    python -m bench.push_traced SNAPSHOT_PATH      (settings from LIVEFEED_*, as livefeed push)

On SIGUSR1 the process collects garbage, dumps a tracemalloc snapshot (one frame per
allocation) to SNAPSHOT_PATH and then creates SNAPSHOT_PATH with the suffix ``.done``.
"""

from __future__ import annotations

import gc
import signal
import sys
import tracemalloc
from pathlib import Path
from types import FrameType

from services.cli import run_service


def main() -> int:
    path = Path(sys.argv[1])
    tracemalloc.start()

    def dump(_signum: int, _frame: FrameType | None) -> None:
        gc.collect()
        tracemalloc.take_snapshot().dump(str(path))
        path.with_suffix(".done").touch()

    signal.signal(signal.SIGUSR1, dump)
    return run_service("push")


if __name__ == "__main__":
    sys.exit(main())
