"""Reading OHLCV bars from DataFrames, CSV and Parquet files.

Accepted shapes: a ``time_ms`` column of UTC milliseconds, or a time column (``timestamp``,
``datetime``, ``date`` or ``time``) or a DatetimeIndex that pandas can parse; naive times are
taken as UTC. Column names are matched case-insensitively. A ``symbol`` column is optional when
the caller names the symbol.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import numpy as np
import pandas as pd

from supreme.core.model import BarBatch

__all__ = ["frame_to_batch", "read_bars", "replay"]

_TIME_COLUMNS = ("timestamp", "datetime", "date", "time", "open_time")


def _to_utc_ms(values: pd.Series | pd.Index) -> np.ndarray:
    stamps = pd.DatetimeIndex(pd.to_datetime(values, utc=True))
    return stamps.as_unit("ms").asi8.astype(np.int64)


def frame_to_batch(frame: pd.DataFrame, *, symbol: str | None = None) -> BarBatch:
    """Convert a DataFrame of bars into a validated, time-ordered :class:`BarBatch`.

    With ``symbol`` given and a symbol column present, only that symbol's rows are kept.
    Raises ``ValueError`` naming what is missing or which row is invalid.
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
    if "symbol" in frame.columns and symbol is not None:
        frame = frame[frame["symbol"].astype(str) == symbol]
        if frame.empty:
            raise ValueError(f"no rows for symbol {symbol!r}")
    batch = BarBatch.from_frame(frame.reset_index(drop=True), symbol=symbol)
    return batch.sorted()


def read_bars(path: str | Path, *, symbol: str | None = None) -> BarBatch:
    """Read bars from a ``.csv`` or ``.parquet`` file (see the module doc for the shape).

    A file without a symbol column takes ``symbol``, or else the file's stem.
    """
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"no such data file: {path}")
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
