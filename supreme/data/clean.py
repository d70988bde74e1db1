"""The cleaning pipeline every feed runs its bars through. It changes nothing silently.

:func:`clean_bars` takes raw bars (a ``BarBatch`` built with ``validate=False``, or a DataFrame
with the ``BarBatch`` columns) and returns valid bars plus a :class:`CleanReport` that counts
every row it dropped or repaired, by reason, and lists the gaps it found. The policy
(:class:`CleanPolicy`) says what happens to each kind of problem:

=====================  ==========================================================  =========
problem                what happens                                                default
=====================  ==========================================================  =========
bad price or time      NaN, infinite or non-positive price, negative time, empty   dropped
                       symbol: nothing to repair from, always dropped
negative volume        ``drop`` the row, or ``zero`` the volume                    drop
high < low, open or    ``drop`` the row, or ``repair``: swap high and low, then    drop
close outside          widen them to take in open and close
[low, high]
out-of-order rows      ``sort`` by time (each symbol's rows), or ``drop`` the      sort
                       rows older than one already seen
duplicate timestamps   keep the ``last`` row of a symbol's time (a venue's later   last
                       revision of the candle), or the ``first``
gaps                   reported when ``timeframe_ms`` is given; with               report
                       ``fill_gaps``, filled with flat bars at the last close and
                       zero volume
=====================  ==========================================================  =========

Markets with sessions (equities, daily bars over weekends) have gaps by nature: they are
reported, and should not be filled.

:func:`screen_rows` is the same rules in their strictest form, for a live stream: a bad, late
or repeated row is rejected with a code and a reason, never repaired. PublishBars and the
gateway's own feed go through it (in :class:`~supreme.server.ingest.Ingestor`), because a
publisher must learn that its bars were refused.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
import pandas as pd

from supreme.core.errors import InvalidArgument
from supreme.core.model import BarBatch

__all__ = [
    "DUPLICATE",
    "INVALID",
    "OUT_OF_ORDER",
    "CleanPolicy",
    "CleanReport",
    "Gap",
    "clean_bars",
    "screen_rows",
]

# Rejection codes of screen_rows.
INVALID = "INVALID"
OUT_OF_ORDER = "OUT_OF_ORDER"
DUPLICATE = "DUPLICATE"

_PRICES = ("open", "high", "low", "close")
_COLUMNS = ("symbol", "time_ms", "open", "high", "low", "close", "volume")
_MAX_LISTED_GAPS = 1_000


@dataclass(frozen=True, slots=True)
class CleanPolicy:
    negative_volume: Literal["drop", "zero"] = "drop"
    bad_range: Literal["drop", "repair"] = "drop"
    out_of_order: Literal["sort", "drop"] = "sort"
    duplicates: Literal["last", "first"] = "last"
    # The bar length, for gap detection (None: gaps are not looked for).
    timeframe_ms: int | None = None
    fill_gaps: bool = False

    def __post_init__(self) -> None:
        choices = {
            "negative_volume": ("drop", "zero"),
            "bad_range": ("drop", "repair"),
            "out_of_order": ("sort", "drop"),
            "duplicates": ("last", "first"),
        }
        for name, allowed in choices.items():
            if getattr(self, name) not in allowed:
                raise InvalidArgument(
                    f"{name} must be one of {allowed}, got {getattr(self, name)!r}"
                )
        if self.timeframe_ms is not None and self.timeframe_ms <= 0:
            raise InvalidArgument(f"timeframe_ms must be > 0, got {self.timeframe_ms}")
        if self.fill_gaps and self.timeframe_ms is None:
            raise InvalidArgument("fill_gaps needs timeframe_ms")


@dataclass(frozen=True, slots=True)
class Gap:
    """Bars missing between two bars of a symbol."""

    symbol: str
    after_ms: int  # the last bar before the gap
    before_ms: int  # the first bar after it
    missing: int  # bars that would fit in between


@dataclass(slots=True)
class CleanReport:
    rows_in: int = 0
    rows_out: int = 0
    dropped: Counter = field(default_factory=Counter)  # reason -> rows
    repaired: Counter = field(default_factory=Counter)  # reason -> rows
    sorted_rows: int = 0  # rows that arrived out of order and were put in place
    gaps: list[Gap] = field(default_factory=list)  # the first _MAX_LISTED_GAPS
    gap_count: int = 0
    missing_bars: int = 0
    filled: int = 0  # flat bars inserted into gaps

    @property
    def changed(self) -> bool:
        return bool(self.dropped or self.repaired or self.sorted_rows or self.filled)

    def merge(self, other: CleanReport) -> CleanReport:
        """Add ``other``'s counts to this report (for pages of one download)."""
        self.rows_in += other.rows_in
        self.rows_out += other.rows_out
        self.dropped.update(other.dropped)
        self.repaired.update(other.repaired)
        self.sorted_rows += other.sorted_rows
        self.gaps.extend(other.gaps[: max(0, _MAX_LISTED_GAPS - len(self.gaps))])
        self.gap_count += other.gap_count
        self.missing_bars += other.missing_bars
        self.filled += other.filled
        return self

    def summary(self) -> str:
        parts = [f"{self.rows_in} rows in, {self.rows_out} out"]
        if self.dropped:
            parts.append("dropped " + ", ".join(f"{n} {r}" for r, n in self.dropped.items()))
        if self.repaired:
            parts.append("repaired " + ", ".join(f"{n} {r}" for r, n in self.repaired.items()))
        if self.sorted_rows:
            parts.append(f"{self.sorted_rows} out-of-order rows sorted into place")
        if self.gap_count:
            parts.append(f"{self.gap_count} gaps ({self.missing_bars} bars missing)")
        if self.filled:
            parts.append(f"{self.filled} flat bars filled in")
        return "; ".join(parts)

    def to_dict(self) -> dict[str, Any]:
        return {
            "rows_in": self.rows_in,
            "rows_out": self.rows_out,
            "dropped": dict(self.dropped),
            "repaired": dict(self.repaired),
            "sorted_rows": self.sorted_rows,
            "gap_count": self.gap_count,
            "missing_bars": self.missing_bars,
            "filled": self.filled,
            "gaps": [_gap_dict(g) for g in self.gaps],
        }


def _gap_dict(gap: Gap) -> dict[str, Any]:
    return {
        "symbol": gap.symbol,
        "after_ms": gap.after_ms,
        "before_ms": gap.before_ms,
        "missing": gap.missing,
    }


def _frame(bars: BarBatch | pd.DataFrame) -> pd.DataFrame:
    if isinstance(bars, BarBatch):
        return pd.DataFrame({c: getattr(bars, c) for c in _COLUMNS})
    missing = [c for c in _COLUMNS[:6] if c not in bars.columns]
    if missing:
        raise InvalidArgument(f"bar columns missing: {missing}; expected {list(_COLUMNS)}")
    frame = bars.loc[:, [c for c in _COLUMNS if c in bars.columns]].copy()
    if "volume" not in frame.columns:
        frame["volume"] = 0.0
    return frame.reset_index(drop=True)


def clean_bars(
    bars: BarBatch | pd.DataFrame, policy: CleanPolicy | None = None
) -> tuple[BarBatch, CleanReport]:
    """Valid bars, ordered by (time, symbol), and the report of what it took."""
    policy = policy or CleanPolicy()
    frame = _frame(bars)
    report = CleanReport(rows_in=len(frame))
    if frame.empty:
        return BarBatch.empty(), report
    frame["symbol"] = frame["symbol"].astype(object)
    frame["time_ms"] = pd.to_numeric(frame["time_ms"], errors="coerce")
    for column in (*_PRICES, "volume"):
        frame[column] = pd.to_numeric(frame[column], errors="coerce").astype(np.float64)

    def drop(mask: np.ndarray, reason: str) -> None:
        nonlocal frame
        count = int(mask.sum())
        if count:
            report.dropped[reason] += count
            frame = frame.loc[~mask].reset_index(drop=True)

    # 1. Rows with nothing to repair from.
    symbol_ok = frame["symbol"].map(lambda s: isinstance(s, str) and bool(s.strip())).to_numpy()
    time = frame["time_ms"].to_numpy(np.float64)
    prices = frame[list(_PRICES)].to_numpy(np.float64)
    with np.errstate(invalid="ignore"):
        good = symbol_ok & np.isfinite(time) & (time >= 0)
        good &= np.isfinite(prices).all(axis=1) & (prices > 0).all(axis=1)
    drop(~good, "bad price or time")
    frame["time_ms"] = frame["time_ms"].astype(np.int64)

    # 2. Volume.
    volume = frame["volume"].to_numpy()
    with np.errstate(invalid="ignore"):
        bad_volume = ~(np.isfinite(volume) & (volume >= 0))
    if policy.negative_volume == "zero":
        count = int(bad_volume.sum())
        if count:
            report.repaired["negative or missing volume set to 0"] += count
            frame.loc[bad_volume, "volume"] = 0.0
    else:
        drop(bad_volume, "negative or missing volume")

    # 3. The bar's own range.
    high, low = frame["high"].to_numpy(), frame["low"].to_numpy()
    inverted = low > high
    o, c = frame["open"].to_numpy(), frame["close"].to_numpy()
    lo, hi = np.minimum(low, high), np.maximum(low, high)
    outside = (o < lo) | (o > hi) | (c < lo) | (c > hi)
    if policy.bad_range == "repair":
        if inverted.any():
            report.repaired["high below low: swapped"] += int(inverted.sum())
        if outside.any():
            report.repaired["open or close outside [low, high]: range widened"] += int(
                outside.sum()
            )
        frame["high"] = np.maximum.reduce([hi, o, c])
        frame["low"] = np.minimum.reduce([lo, o, c])
    else:
        drop(inverted, "high below low")
        o, c = frame["open"].to_numpy(), frame["close"].to_numpy()
        hi, lo = frame["high"].to_numpy(), frame["low"].to_numpy()
        drop((o < lo) | (o > hi) | (c < lo) | (c > hi), "open or close outside [low, high]")

    # 4. Order: a row older than one already seen for its symbol is out of order.
    if len(frame):
        running = frame.groupby("symbol", sort=False)["time_ms"].cummax()
        late = (frame["time_ms"] < running).to_numpy()
        if policy.out_of_order == "drop":
            drop(late, "out of order")
        else:
            report.sorted_rows += int(late.sum())
        frame = frame.sort_values(["time_ms", "symbol"], kind="stable").reset_index(drop=True)

    # 5. Repeated timestamps of a symbol.
    repeated = frame.duplicated(["symbol", "time_ms"], keep=policy.duplicates).to_numpy()
    drop(repeated, f"duplicate timestamp (kept the {policy.duplicates})")

    # 6. Gaps.
    if policy.timeframe_ms is not None and len(frame):
        frame = _gaps(frame, policy, report)

    report.rows_out = len(frame)
    batch = BarBatch(*(frame[c].to_numpy() for c in _COLUMNS))
    return batch, report


def _gaps(frame: pd.DataFrame, policy: CleanPolicy, report: CleanReport) -> pd.DataFrame:
    step = policy.timeframe_ms
    fills = []
    for symbol, rows in frame.groupby("symbol", sort=False):
        times = rows["time_ms"].to_numpy()
        deltas = np.diff(times)
        for i in np.flatnonzero(deltas > step).tolist():
            missing = int((deltas[i] - 1) // step)
            if missing < 1:
                continue  # a late bar inside one step: irregular, not a gap
            report.gap_count += 1
            report.missing_bars += missing
            if len(report.gaps) < _MAX_LISTED_GAPS:
                report.gaps.append(Gap(str(symbol), int(times[i]), int(times[i + 1]), missing))
            if policy.fill_gaps:
                close = float(rows["close"].iloc[i])
                stamps = times[i] + step * np.arange(1, missing + 1, dtype=np.int64)
                fills.append(
                    pd.DataFrame(
                        {
                            "symbol": symbol,
                            "time_ms": stamps,
                            "open": close,
                            "high": close,
                            "low": close,
                            "close": close,
                            "volume": 0.0,
                        }
                    )
                )
    if fills:
        filled = pd.concat(fills, ignore_index=True)
        report.filled += len(filled)
        frame = pd.concat([frame, filled], ignore_index=True)
        frame = frame.sort_values(["time_ms", "symbol"], kind="stable").reset_index(drop=True)
    return frame


def screen_rows(
    batch: BarBatch, last_time: dict[str, int]
) -> tuple[np.ndarray, list[tuple[int, str, int, str, str]]]:
    """The strict, live form of the pipeline: which rows of ``batch`` to keep, and each
    refused row as ``(row, symbol, time_ms, code, reason)`` in row order.

    A row breaking a bar rule is INVALID; a row not newer than the last kept bar of its symbol
    (in ``last_time``, which is updated with the kept rows) is DUPLICATE or OUT_OF_ORDER.
    """
    n = len(batch)
    keep = np.ones(n, dtype=bool)
    rejected: list[tuple[int, str, int, str, str]] = []
    symbols = batch.symbol.tolist()
    times = batch.time_ms.tolist()
    for row, reason in batch.invalid_rows().items():
        keep[row] = False
        rejected.append((row, str(symbols[row]), times[row], INVALID, reason))
    for row in range(n):
        if not keep[row]:
            continue
        symbol, t = symbols[row], times[row]
        previous = last_time.get(symbol)
        if previous is not None and t <= previous:
            keep[row] = False
            late = "a duplicate of" if t == previous else "older than"
            rejected.append(
                (
                    row,
                    symbol,
                    t,
                    DUPLICATE if t == previous else OUT_OF_ORDER,
                    f"bar at {t} is {late} the last accepted bar of {symbol} at {previous}; "
                    "bars of a symbol must arrive in strictly increasing time",
                )
            )
        else:
            last_time[symbol] = t
    rejected.sort(key=lambda r: r[0])
    return keep, rejected
