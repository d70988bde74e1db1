"""Reading OHLCV bars from DataFrames, CSV and Parquet files, whole or in chunks (FileFeed).

Accepted shapes: a ``time_ms`` column of UTC milliseconds, or a time column (``timestamp``,
``datetime``, ``date`` or ``time``) or a DatetimeIndex that pandas can parse; naive times are
taken as UTC. Column names are matched case-insensitively. A ``symbol`` column is optional when
the caller names the symbol.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from supreme.core.errors import InvalidArgument
from supreme.core.model import BarBatch, object_column
from supreme.data.clean import CleanPolicy, CleanReport, Gap, clean_bars
from supreme.data.feed import timeframe_ms

__all__ = ["FileFeed", "frame_to_batch", "normalize_frame", "read_bars", "replay"]

_TIME_COLUMNS = ("timestamp", "datetime", "date", "time", "open_time")


def _to_utc_ms(values: pd.Series | pd.Index) -> np.ndarray:
    stamps = pd.DatetimeIndex(pd.to_datetime(values, utc=True))
    return stamps.as_unit("ms").asi8.astype(np.int64)


def normalize_frame(frame: pd.DataFrame, *, symbol: str | None = None) -> pd.DataFrame:
    """``frame`` with the canonical bar columns (symbol, time_ms, open, high, low, close,
    volume), unvalidated, in file order: the raw input of :func:`supreme.data.clean.clean_bars`.

    With ``symbol`` given and a symbol column present, only that symbol's rows are kept.
    Raises ``ValueError`` naming what is missing.
    """
    frame = frame.rename(columns={c: str(c).lower() for c in frame.columns})
    if "time_ms" not in frame.columns:
        time_column = next((c for c in _TIME_COLUMNS if c in frame.columns), None)
        if time_column is not None:
            times = _to_utc_ms(frame[time_column])
        elif isinstance(frame.index, pd.DatetimeIndex):
            times = _to_utc_ms(frame.index)
        else:
            raise ValueError(
                "bars need a time: a time_ms column of UTC milliseconds, one of the columns "
                f"{list(_TIME_COLUMNS)}, or a DatetimeIndex; got columns {list(frame.columns)}"
            )
        frame = frame.assign(time_ms=times)
    missing = [c for c in ("open", "high", "low", "close") if c not in frame.columns]
    if missing:
        raise ValueError(
            f"frame is missing column(s) {missing}; expected time_ms (or a time), open, high, "
            f"low, close and optionally volume and symbol, got {list(frame.columns)}"
        )
    if "symbol" in frame.columns:
        if symbol is not None:
            frame = frame[frame["symbol"].astype(str) == symbol]
        symbols = frame["symbol"].astype(str).to_numpy(dtype=object)
    elif symbol is not None:
        symbols = object_column(symbol, len(frame))
    else:
        raise ValueError("bars have no symbol column; name the symbol")
    return pd.DataFrame(
        {
            "symbol": symbols,
            "time_ms": frame["time_ms"].to_numpy(),
            **{c: frame[c].to_numpy() for c in ("open", "high", "low", "close")},
            "volume": frame["volume"].to_numpy() if "volume" in frame.columns else 0.0,
        }
    )


def frame_to_batch(frame: pd.DataFrame, *, symbol: str | None = None) -> BarBatch:
    """Convert a DataFrame of bars into a validated, time-ordered :class:`BarBatch`.

    With ``symbol`` given and a symbol column present, only that symbol's rows are kept.
    Raises ``ValueError`` naming what is missing or which row is invalid.
    """
    normal = normalize_frame(frame, symbol=symbol)
    if normal.empty and symbol is not None:
        raise ValueError(f"no rows for symbol {symbol!r}")
    batch = BarBatch.from_frame(normal.reset_index(drop=True))
    return batch.sorted()


def read_bars(
    path: str | Path, *, symbol: str | None = None, timeframe: str | None = None
) -> BarBatch:
    """Read bars from a ``.csv`` or ``.parquet`` file (see the module doc for the shape), or
    from a directory of them such as a :class:`~supreme.data.store.BarStore` (then name the
    ``symbol``, and the ``timeframe`` when the store has several).

    A file without a symbol column takes ``symbol``, or else the file's stem.
    """
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"no such data file: {path}")
    if path.is_dir():
        if symbol is None:
            raise ValueError(f"{path} is a directory: name the symbol to read from it")
        parts = list(FileFeed(path).read_chunks([symbol], timeframe))
        if not parts:
            raise ValueError(
                f"no bars of {symbol!r}{f' at {timeframe}' if timeframe else ''} under {path}"
            )
        return BarBatch.concat(parts).sorted()
    suffix = path.suffix.lower()
    if suffix in (".parquet", ".pq"):
        frame = pd.read_parquet(path)
    elif suffix in (".csv", ".txt") or path.name.endswith(".csv.gz"):
        frame = pd.read_csv(path)
    else:
        raise ValueError(f"unsupported data file {path.name!r}: expected .csv or .parquet")
    columns = {str(c).lower() for c in frame.columns}
    if "symbol" not in columns and symbol is None:
        symbol = path.stem
    return frame_to_batch(frame, symbol=symbol)


async def replay(bars: BarBatch, *, rate: float, chunk: int = 100) -> AsyncIterator[BarBatch]:
    """Replay ``bars`` (their own timestamps) at about ``rate`` bars per second, in chunks."""
    if rate <= 0:
        raise ValueError(f"rate must be > 0 bars/s, got {rate}")
    step = max(1, min(chunk, int(rate // 10) or 1))
    for start in range(0, len(bars), step):
        part = bars.select(slice(start, start + step))
        yield part
        await asyncio.sleep(len(part) / rate)


# -- FileFeed ------------------------------------------------------------------------------------


@dataclass(slots=True)
class _Stitch:
    """What a chunked read remembers between chunks, per symbol: the last bar's time and
    close, so a chunk boundary hides neither a repeated or late row nor a gap."""

    last_time: dict[str, int] = field(default_factory=dict)
    last_close: dict[str, float] = field(default_factory=dict)


class FileFeed:
    """Bars from CSV and Parquet files, a directory of them, or a :class:`BarStore` directory.

    Files are read in chunks of ``chunk_rows`` rows (pyarrow record batches), so memory stays
    bounded whatever the file size; each chunk goes through the cleaning pipeline, and the
    boundaries between chunks are stitched (a row not newer than the previous chunk's last bar
    of its symbol is dropped and counted, a gap across a boundary is reported and, with
    ``fill_gaps``, filled). Rows are expected in time order across the file; within a chunk
    they are sorted.

    :meth:`stream` replays the files at ``speed`` times their own pace (bar time deltas divided
    by ``speed``; 0 replays as fast as the consumer takes them), for live-like tests.
    """

    name = "file"

    def __init__(
        self,
        path: str | Path | Sequence[str | Path],
        *,
        chunk_rows: int = 100_000,
        speed: float = 0.0,
        policy: CleanPolicy | None = None,
    ) -> None:
        paths = [path] if isinstance(path, str | Path) else list(path)
        self._paths = [Path(p) for p in paths]
        missing = [str(p) for p in self._paths if not p.exists()]
        if missing:
            raise FileNotFoundError(f"no such data file or directory: {', '.join(missing)}")
        if chunk_rows < 1:
            raise InvalidArgument(f"chunk_rows must be >= 1, got {chunk_rows}")
        if speed < 0:
            raise InvalidArgument(f"speed must be >= 0 (0: no pacing), got {speed}")
        self._chunk_rows = chunk_rows
        self._speed = speed
        self._policy = policy
        self.last_report = CleanReport()

    # -- the Feed protocol ---------------------------------------------------------------------

    async def history(
        self, symbol: str, timeframe: str, start_ms: int, end_ms: int
    ) -> AsyncIterator[BarBatch]:
        for batch in self.read_chunks([symbol], timeframe, start_ms, end_ms):
            yield batch
            await asyncio.sleep(0)

    async def stream(self, symbols: Sequence[str], timeframe: str) -> AsyncIterator[BarBatch]:
        previous: int | None = None
        for batch in self.read_chunks(list(symbols), timeframe):
            if not self._speed:
                yield batch
                await asyncio.sleep(0)
                continue
            # One yield per timestamp, spaced like the bars themselves, sped up.
            times = batch.time_ms
            cuts = np.flatnonzero(np.diff(times)) + 1
            for rows in np.split(np.arange(len(batch)), cuts):
                now = int(times[rows[0]])
                if previous is not None and now > previous:
                    await asyncio.sleep((now - previous) / 1000.0 / self._speed)
                previous = now
                yield batch.select(rows)

    async def close(self) -> None:
        """Nothing to release: files are opened per read."""

    # -- reading -------------------------------------------------------------------------------

    def files(self, timeframe: str | None = None) -> list[Path]:
        """The data files behind this feed; in a store directory, those of ``timeframe``."""
        out: list[Path] = []
        for path in self._paths:
            if path.is_file():
                out.append(path)
                continue
            found = sorted(p for p in path.rglob("*") if p.is_file() and _is_data_file(p))
            if timeframe is not None and any(f"timeframe={timeframe}" in p.parts for p in found):
                found = [p for p in found if f"timeframe={timeframe}" in p.parts]
            out.extend(found)
        return out

    def read_chunks(
        self,
        symbols: Sequence[str] | None,
        timeframe: str | None = None,
        start_ms: int | None = None,
        end_ms: int | None = None,
    ) -> Iterator[BarBatch]:
        """Cleaned chunks of the rows of ``symbols`` (None: all) in ``[start_ms, end_ms)``."""
        step = timeframe_ms(timeframe) if timeframe is not None else None
        policy = self._policy or CleanPolicy(timeframe_ms=step)
        self.last_report = report = CleanReport()
        wanted = set(symbols) if symbols is not None else None
        stitch = _Stitch()
        for path in self.files(timeframe):
            single = None if wanted is None or len(wanted) != 1 else next(iter(wanted))
            for raw in _raw_chunks(path, self._chunk_rows):
                frame = normalize_frame(
                    raw, symbol=single if single is not None or "symbol" in raw else path.stem
                )
                if wanted is not None and len(wanted) > 1:
                    frame = frame[frame["symbol"].isin(wanted)]
                times = pd.to_numeric(frame["time_ms"], errors="coerce")
                if start_ms is not None:
                    frame = frame[times >= start_ms]
                    times = times[times >= start_ms]
                if end_ms is not None:
                    frame = frame[times < end_ms]
                if frame.empty:
                    continue
                batch, part = clean_bars(frame, policy)
                batch = _stitched(batch, stitch, policy, part)
                report.merge(part)
                if len(batch):
                    yield batch


def _is_data_file(path: Path) -> bool:
    name = path.name.lower()
    return name.endswith((".parquet", ".pq", ".csv", ".csv.gz"))


def _raw_chunks(path: Path, rows: int) -> Iterator[pd.DataFrame]:
    """The file's rows, ``rows`` at a time, as DataFrames (pyarrow streaming readers)."""
    name = path.name.lower()
    if name.endswith((".parquet", ".pq")):
        # Without pre-buffering: pyarrow's coalesced read-ahead otherwise keeps the file's
        # column chunks resident and memory grows with the file (bench/file_feed_memory.py).
        with pq.ParquetFile(path, pre_buffer=False) as parquet:
            for record_batch in parquet.iter_batches(batch_size=rows):
                yield record_batch.to_pandas()
    elif name.endswith((".csv", ".csv.gz", ".txt")):
        # block_size bounds the bytes per batch; about 100 bytes a CSV row.
        options = pacsv.ReadOptions(block_size=max(1 << 16, rows * 100))
        with pacsv.open_csv(path, read_options=options) as reader:
            for record_batch in reader:
                yield record_batch.to_pandas()
    else:
        raise InvalidArgument(f"unsupported data file {path.name!r}: expected .csv or .parquet")


def _stitched(batch: BarBatch, stitch: _Stitch, policy: CleanPolicy, report: CleanReport):
    """``batch`` joined to what came before it (see :class:`_Stitch`); updates ``report``."""
    if not len(batch):
        return batch
    symbols = batch.symbol.tolist()
    times = batch.time_ms.tolist()
    keep = np.ones(len(batch), dtype=bool)
    first_seen: dict[str, int] = {}
    for row, (symbol, t) in enumerate(zip(symbols, times, strict=True)):
        last = stitch.last_time.get(symbol)
        if last is not None and t <= last:
            keep[row] = False
        elif symbol not in first_seen:
            first_seen[symbol] = row
    late = int((~keep).sum())
    if late:
        report.dropped["not after the previous chunk's last bar"] += late
        report.rows_out -= late
        batch = batch.select(keep)
        symbols = batch.symbol.tolist()
        times = batch.time_ms.tolist()
        first_seen = {}
        for row, symbol in enumerate(symbols):
            first_seen.setdefault(symbol, row)
    fills = []
    step = policy.timeframe_ms
    for symbol, row in first_seen.items():
        last = stitch.last_time.get(symbol)
        if step is None or last is None:
            continue
        missing = int((times[row] - last - 1) // step)
        if missing < 1:
            continue
        report.gap_count += 1
        report.missing_bars += missing
        report.gaps.append(Gap(symbol, last, times[row], missing))
        if policy.fill_gaps:
            close = stitch.last_close[symbol]
            stamps = last + step * np.arange(1, missing + 1, dtype=np.int64)
            n = len(stamps)
            fills.append(
                BarBatch(
                    object_column(symbol, n),
                    stamps,
                    *(np.full(n, close) for _ in range(4)),
                    np.zeros(n),
                )
            )
            report.filled += n
            report.rows_out += n
    if fills:
        batch = BarBatch.concat([*fills, batch]).sorted()
    closes = batch.close.tolist()
    for symbol, t, c in zip(batch.symbol.tolist(), batch.time_ms.tolist(), closes, strict=True):
        stitch.last_time[symbol] = t
        stitch.last_close[symbol] = c
    return batch
