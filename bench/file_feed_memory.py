"""Peak memory of reading a large Parquet file whole versus in FileFeed chunks. Prints one JSON
line (progress goes to stderr).

Set-up: a Parquet file of ``--symbols`` x ``--bars`` simulated bars, written in row groups so the
writer itself stays small. Each measurement runs in a fresh Python process that samples its own
resident set every 2 ms; the figure is the peak during the read minus the resident set just
before it (after the imports). Reads: ``read_bars`` (pandas, the whole file at once: the
baseline to beat) and ``FileFeed.read_chunks`` at ``--chunk-rows`` rows (every chunk cleaned
and then dropped, as a consumer that streams them on would), on a file and on one four times
larger: bounded memory means the chunked figure does not grow with the file. Medians over
``--repeat`` runs.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

_CHILD = r"""
import sys, threading, time
import psutil
from supreme.data.files import FileFeed, read_bars
import pandas, pyarrow.parquet  # noqa: F401  (imports are part of the baseline)
me = psutil.Process()
base = peak = me.memory_info().rss
done = False
def sample():
    global peak
    while not done:
        peak = max(peak, me.memory_info().rss)
        time.sleep(0.002)
sampler = threading.Thread(target=sample, daemon=True)
sampler.start()
path, mode, chunk = sys.argv[1], sys.argv[2], int(sys.argv[3])
started = time.perf_counter()
if mode == "whole":
    rows = len(read_bars(path))
else:
    rows = sum(len(b) for b in FileFeed(path, chunk_rows=chunk).read_chunks(None, "1h"))
took = time.perf_counter() - started
done = True
sampler.join()
print(rows, (max(peak, me.memory_info().rss) - base) / 2**20, took)
"""


def log(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def write_file(path: Path, symbols: int, bars: int) -> int:
    import pyarrow as pa
    import pyarrow.parquet as pq

    from supreme.data.simulator import simulate_bars

    names = [f"S{i:04d}" for i in range(symbols)]
    block = 10_000
    writer = None
    rows = 0
    try:
        for k, start in enumerate(range(0, bars, block)):
            n = min(block, bars - start)
            batch = simulate_bars(names, n, seed=k, start_ms=1_704_067_200_000 + start * 3_600_000)
            table = pa.table(
                {c: getattr(batch, c) for c in ("symbol", "time_ms", "open", "high")}
                | {c: getattr(batch, c) for c in ("low", "close", "volume")}
            )
            if writer is None:
                writer = pq.ParquetWriter(path, table.schema)
            writer.write_table(table, row_group_size=100_000)
            rows += len(batch)
    finally:
        if writer is not None:
            writer.close()
    return rows


def measure(path: Path, mode: str, chunk: int) -> tuple[int, float, float]:
    out = subprocess.run(
        [sys.executable, "-c", _CHILD, str(path), mode, str(chunk)],
        check=True,
        capture_output=True,
        text=True,
    ).stdout.split()
    return int(out[0]), float(out[1]), float(out[2])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--symbols", type=int, default=100)
    parser.add_argument(
        "--bars", type=int, default=15_000, help="bars per symbol of the small file (large: 4x)"
    )
    parser.add_argument("--chunk-rows", type=int, default=100_000)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()

    figures: dict = {"bench": "file_feed_memory", "repeat": args.repeat}
    figures["chunk_rows"] = args.chunk_rows
    for label, bars in (("small", args.bars), ("large", args.bars * 4)):
        with tempfile.TemporaryDirectory(prefix="supreme-bench-") as tmp:
            path = Path(tmp) / "bars.parquet"
            log(f"{label}: writing {args.symbols} x {bars} bars")
            rows = write_file(path, args.symbols, bars)
            runs: dict[str, list[tuple[int, float, float]]] = {"whole": [], "chunked": []}
            for i in range(args.repeat):
                for mode in runs:
                    runs[mode].append(measure(path, mode, args.chunk_rows))
                    log(f"{label} run {i + 1}/{args.repeat} {mode}: {runs[mode][-1]}")
            assert all(r[0] == rows for rs in runs.values() for r in rs), "a read lost rows"
            figures[f"{label}_rows"] = rows
            figures[f"{label}_file_mb"] = round(path.stat().st_size / 2**20, 1)
            for mode, rs in runs.items():
                growth = statistics.median(r[1] for r in rs)
                figures[f"{label}_{mode}_peak_growth_mb"] = round(growth, 1)
                figures[f"{label}_{mode}_rows_per_s"] = round(
                    rows / statistics.median(r[2] for r in rs)
                )
    # Bounded means: four times the file, about the same memory for the chunked read.
    figures["chunked_growth_large_vs_small"] = round(
        figures["large_chunked_peak_growth_mb"] / figures["small_chunked_peak_growth_mb"], 3
    )
    figures["whole_growth_large_vs_small"] = round(
        figures["large_whole_peak_growth_mb"] / figures["small_whole_peak_growth_mb"], 3
    )
    figures["large_chunked_vs_whole_memory_ratio"] = round(
        figures["large_chunked_peak_growth_mb"] / figures["large_whole_peak_growth_mb"], 3
    )
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
