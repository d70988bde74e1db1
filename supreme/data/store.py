"""A local store of downloaded bars: partitioned Parquet under one data directory.

Layout::

    <root>/symbol=<symbol, URL-quoted>/timeframe=<tf>/<first ms>-<last ms>.parquet
    <root>/symbol=<...>/timeframe=<tf>/coverage.json

Each Parquet file holds the columns ``symbol, time_ms, open, high, low, close, volume`` of one
download. ``coverage.json`` lists the ``[start, end)`` ranges already asked of the source, merged,
so a later download of an overlapping range fetches only what is missing (a range that had no
bars, a weekend say, is not asked again either). Coverage never reaches past the last closed
bar at download time, so bars that had not closed yet are fetched next time.

:class:`~supreme.data.files.FileFeed` and the backtester read the store directly: point them at
the root and name the symbol and timeframe.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import quote, unquote

import pyarrow as pa
import pyarrow.parquet as pq

from supreme.core.model import BarBatch
from supreme.data.clean import CleanReport
from supreme.data.feed import Feed, timeframe_ms

__all__ = ["BarStore", "DownloadResult", "download"]

_COLUMNS = ("symbol", "time_ms", "open", "high", "low", "close", "volume")


def _merge(ranges: list[tuple[int, int]]) -> list[tuple[int, int]]:
    merged: list[tuple[int, int]] = []
    for start, end in sorted(r for r in ranges if r[1] > r[0]):
        if merged and start <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(merged[-1][1], end))
        else:
            merged.append((start, end))
    return merged


class BarStore:
    def __init__(self, root: str | Path) -> None:
        self.root = Path(root).expanduser()

    def partition(self, symbol: str, timeframe: str) -> Path:
        timeframe_ms(timeframe)  # validates
        return self.root / f"symbol={quote(symbol, safe='')}" / f"timeframe={timeframe}"

    def coverage(self, symbol: str, timeframe: str) -> list[tuple[int, int]]:
        path = self.partition(symbol, timeframe) / "coverage.json"
        if not path.exists():
            return []
        return [(int(a), int(b)) for a, b in json.loads(path.read_text())["ranges"]]

    def missing(
        self, symbol: str, timeframe: str, start_ms: int, end_ms: int
    ) -> list[tuple[int, int]]:
        """The parts of ``[start_ms, end_ms)`` not covered yet, in order."""
        out, cursor = [], start_ms
        for a, b in self.coverage(symbol, timeframe):
            if b <= cursor or a >= end_ms:
                continue
            if a > cursor:
                out.append((cursor, min(a, end_ms)))
            cursor = max(cursor, b)
        if cursor < end_ms:
            out.append((cursor, end_ms))
        return out

    def write(
        self, symbol: str, timeframe: str, batch: BarBatch, covered: tuple[int, int]
    ) -> Path | None:
        """Store ``batch`` (bars of ``symbol``) and mark ``covered`` as fetched. The data file
        is written before the coverage, each atomically, so a crash never marks a range that
        has no file."""
        folder = self.partition(symbol, timeframe)
        folder.mkdir(parents=True, exist_ok=True)
        written = None
        if len(batch):
            table = pa.table({c: getattr(batch, c) for c in _COLUMNS})
            first, last = int(batch.time_ms[0]), int(batch.time_ms[-1])
            written = folder / f"{first}-{last}.parquet"
            tmp = written.with_suffix(".tmp")
            pq.write_table(table, tmp)
            os.replace(tmp, written)
        ranges = _merge([*self.coverage(symbol, timeframe), covered])
        tmp = folder / "coverage.json.tmp"
        tmp.write_text(json.dumps({"symbol": symbol, "timeframe": timeframe, "ranges": ranges}))
        os.replace(tmp, folder / "coverage.json")
        return written

    def read(
        self,
        symbol: str,
        timeframe: str,
        start_ms: int | None = None,
        end_ms: int | None = None,
    ) -> BarBatch:
        """The stored bars of ``symbol`` in ``[start_ms, end_ms)``, ordered, each time once."""
        from supreme.data.files import FileFeed

        folder = self.partition(symbol, timeframe)
        if not folder.exists():
            return BarBatch.empty()
        feed = FileFeed(folder)
        parts = list(feed.read_chunks([symbol], timeframe, start_ms, end_ms))
        return BarBatch.concat(parts) if parts else BarBatch.empty()

    def contents(self) -> list[dict]:
        """Every stored (symbol, timeframe): its coverage and file count."""
        out = []
        for folder in sorted(self.root.glob("symbol=*/timeframe=*")):
            symbol = unquote(folder.parent.name.removeprefix("symbol="))
            timeframe = folder.name.removeprefix("timeframe=")
            out.append(
                {
                    "symbol": symbol,
                    "timeframe": timeframe,
                    "ranges": self.coverage(symbol, timeframe),
                    "files": len(list(folder.glob("*.parquet"))),
                }
            )
        return out


@dataclass(slots=True)
class DownloadResult:
    symbol: str
    timeframe: str
    fetched: list[tuple[int, int]] = field(default_factory=list)  # ranges asked of the source
    skipped: list[tuple[int, int]] = field(default_factory=list)  # already covered
    rows: int = 0
    report: CleanReport = field(default_factory=CleanReport)


async def download(
    feed: Feed,
    store: BarStore,
    symbol: str,
    timeframe: str,
    start_ms: int,
    end_ms: int,
    *,
    now_ms: Callable[[], int] | None = None,
) -> DownloadResult:
    """Fetch what the store lacks of ``[start_ms, end_ms)`` from ``feed`` and store it."""
    step = timeframe_ms(timeframe)
    now = (now_ms or (lambda: int(time.time() * 1000)))()
    # Bars open on the grid; the one that opens at or after the current grid point has not
    # closed yet, so coverage stops there.
    end_ms = min(end_ms, now // step * step)
    result = DownloadResult(symbol, timeframe)
    if end_ms <= start_ms:
        return result
    todo = store.missing(symbol, timeframe, start_ms, end_ms)
    covered, cursor = [], start_ms
    for a, b in todo:
        if a > cursor:
            covered.append((cursor, a))
        cursor = b
    if cursor < end_ms:
        covered.append((cursor, end_ms))
    result.skipped = covered
    for a, b in todo:
        pages = [page async for page in feed.history(symbol, timeframe, a, b)]
        report = getattr(feed, "last_report", None)
        if isinstance(report, CleanReport):
            result.report.merge(report)
        batch = BarBatch.concat(pages) if pages else BarBatch.empty()
        store.write(symbol, timeframe, batch, (a, b))
        result.fetched.append((a, b))
        result.rows += len(batch)
    return result
