"""The cleaning pipeline, chunked file reading, the bar store and `supreme data`."""

import asyncio
import json
import math

import numpy as np
import pandas as pd
import pytest

from supreme.core.errors import InvalidArgument
from supreme.core.model import BarBatch
from supreme.data.clean import CleanPolicy, clean_bars
from supreme.data.files import FileFeed, read_bars
from supreme.data.simulator import SimulatorFeed, simulate_bars
from supreme.data.store import BarStore, download

HOUR = 3_600_000


def _frame(n=24, symbols=("A", "B"), seed=1):
    return simulate_bars(list(symbols), n, seed=seed).to_frame()


def _accounted(report):
    """Every row in is out, dropped, or (for filled bars) added: nothing vanishes unseen."""
    return report.rows_in - sum(report.dropped.values()) + report.filled == report.rows_out


# -- clean_bars ---------------------------------------------------------------------------------


def test_clean_bars_leaves_good_bars_alone_and_says_so():
    frame = _frame()
    batch, report = clean_bars(frame, CleanPolicy(timeframe_ms=HOUR))
    assert not report.changed and report.gap_count == 0
    assert batch.time_ms.tolist() == frame["time_ms"].tolist()
    assert batch.close.tolist() == frame["close"].tolist()


def test_clean_bars_drops_each_kind_of_bad_row_and_counts_it():
    frame = _frame()
    frame.loc[0, "close"] = math.nan
    frame.loc[2, "open"] = -1.0
    frame.loc[4, "volume"] = -5.0
    high, low = float(frame.loc[6, "high"]), float(frame.loc[6, "low"])
    frame.loc[6, "high"], frame.loc[6, "low"] = low, high  # high < low
    frame.loc[8, "close"] = frame.loc[8, "high"] * 1.5  # close above the high
    batch, report = clean_bars(frame)
    assert report.dropped == {
        "bad price or time": 2,
        "negative or missing volume": 1,
        "high below low": 1,
        "open or close outside [low, high]": 1,
    }
    assert len(batch) == len(frame) - 5 and _accounted(report)
    assert not batch.invalid_rows()


def test_clean_bars_repair_policy_fixes_what_it_can_and_reports_it():
    frame = _frame()
    frame.loc[4, "volume"] = -5.0
    high, low = float(frame.loc[6, "high"]), float(frame.loc[6, "low"])
    frame.loc[6, "high"], frame.loc[6, "low"] = low, high
    frame.loc[8, "close"] = frame.loc[8, "high"] * 1.5
    policy = CleanPolicy(negative_volume="zero", bad_range="repair")
    batch, report = clean_bars(frame, policy)
    assert len(batch) == len(frame) and not report.dropped
    assert report.repaired == {
        "negative or missing volume set to 0": 1,
        "high below low: swapped": 1,
        "open or close outside [low, high]: range widened": 1,
    }
    out = batch.to_frame()
    row6 = out[(out.symbol == frame.loc[6, "symbol"]) & (out.time_ms == frame.loc[6, "time_ms"])]
    assert row6.high.item() == high and row6.low.item() == low
    row8 = out[(out.symbol == frame.loc[8, "symbol"]) & (out.time_ms == frame.loc[8, "time_ms"])]
    assert row8.high.item() == frame.loc[8, "close"]


def test_clean_bars_orders_dedupes_and_fills_gaps_by_policy():
    frame = _frame(n=10, symbols=("A",))
    middle = (frame.loc[3, "high"] + frame.loc[3, "low"]) / 2
    revised = frame.iloc[[3]].assign(close=middle)
    shuffled = pd.concat([frame.iloc[[5]], frame.drop(index=[5, 6, 7]), revised])
    batch, report = clean_bars(shuffled, CleanPolicy(timeframe_ms=HOUR, fill_gaps=True))
    # Sorted, the repeated 4th bar kept as its later revision, the two missing bars filled.
    assert batch.time_ms.tolist() == frame["time_ms"].tolist()
    assert report.sorted_rows == 6 and report.dropped == {"duplicate timestamp (kept the last)": 1}
    assert batch.close[3] == revised["close"].item()
    assert report.gap_count == 1 and report.missing_bars == 2 and report.filled == 2
    assert batch.volume[6] == batch.volume[7] == 0 and batch.close[6] == batch.close[5]
    assert _accounted(report)

    dropped, report = clean_bars(shuffled, CleanPolicy(out_of_order="drop", duplicates="first"))
    # Bar 5 came first, so every earlier bar of A is late and dropped.
    assert dropped.time_ms.tolist() == frame["time_ms"].iloc[[5, 8, 9]].tolist()
    assert report.dropped["out of order"] == 6 and _accounted(report)


def test_clean_policy_refuses_unknown_choices():
    with pytest.raises(InvalidArgument, match="bad_range"):
        CleanPolicy(bad_range="guess")
    with pytest.raises(InvalidArgument, match="fill_gaps needs timeframe_ms"):
        CleanPolicy(fill_gaps=True)


# -- FileFeed -----------------------------------------------------------------------------------


@pytest.mark.parametrize("suffix", ["parquet", "csv"])
def test_chunked_reads_give_exactly_the_whole_read(tmp_path, suffix):
    bars = simulate_bars(["A", "B", "C"], 3_000, seed=5)
    path = tmp_path / f"bars.{suffix}"
    frame = bars.to_frame()
    frame.to_parquet(path) if suffix == "parquet" else frame.to_csv(path, index=False)
    whole = FileFeed(path, chunk_rows=10**7)
    chunked = FileFeed(path, chunk_rows=701)  # not a divisor of anything here
    for symbols in (["B"], ["A", "C"], None):
        w = BarBatch.concat(list(whole.read_chunks(symbols, "1h")))
        parts = list(chunked.read_chunks(symbols, "1h"))
        c = BarBatch.concat(parts)
        assert len(parts) > 5
        for column in ("symbol", "time_ms", "open", "high", "low", "close", "volume"):
            assert getattr(w, column).tolist() == getattr(c, column).tolist()
        assert not chunked.last_report.changed


def test_chunk_boundaries_do_not_hide_repeats_or_gaps(tmp_path):
    frame = _frame(n=40, symbols=("A",))
    # Row 19 repeated right after itself, and rows 25-26 missing: both straddle chunk edges.
    frame = pd.concat([frame.iloc[:20], frame.iloc[[19]], frame.iloc[20:25], frame.iloc[27:]])
    path = tmp_path / "a.parquet"
    frame.to_parquet(path)
    feed = FileFeed(path, chunk_rows=20, policy=CleanPolicy(timeframe_ms=HOUR, fill_gaps=True))
    out = BarBatch.concat(list(feed.read_chunks(["A"], "1h")))
    assert out.time_ms.tolist() == _frame(n=40, symbols=("A",))["time_ms"].tolist()
    report = feed.last_report
    assert report.dropped == {"not after the previous chunk's last bar": 1}
    assert report.gap_count == 1 and report.filled == 2 and _accounted(report)


def test_history_honours_the_range_and_stream_replays_at_speed(tmp_path):
    bars = simulate_bars(["A", "B"], 50, seed=2, interval_ms=1_000)
    path = tmp_path / "s.parquet"
    bars.to_frame().to_parquet(path)

    async def scenario():
        feed = FileFeed(path, speed=100.0)  # 1 s bars at 100x: 10 ms apart
        start, end = int(bars.time_ms[10]), int(bars.time_ms[40])
        history = [b async for b in feed.history("A", "1m", start, end)]
        loop = asyncio.get_running_loop()
        began, seen = loop.time(), []
        async for batch in feed.stream(["A", "B"], "1m"):
            seen.append(batch)
        return history, seen, loop.time() - began

    history, seen, took = asyncio.run(scenario())
    got = BarBatch.concat(history)
    assert got.symbol.tolist() == ["A"] * 15
    assert got.time_ms.tolist() == bars.for_symbol("A").time_ms.tolist()[5:20]
    # One batch per timestamp, both symbols, paced at ~10 ms: about half a second in all.
    assert len(seen) == 50 and all(len(b) == 2 for b in seen)
    assert 0.3 < took < 5.0


# -- the store ----------------------------------------------------------------------------------


class _CountingFeed:
    """A feed that records which ranges were asked of it."""

    name = "counting"

    def __init__(self):
        self.asked = []
        self._sim = SimulatorFeed(seed=3)

    async def history(self, symbol, timeframe, start_ms, end_ms):
        self.asked.append((start_ms, end_ms))
        async for page in self._sim.history(symbol, timeframe, start_ms, end_ms):
            yield page

    async def close(self):
        pass


def test_downloads_are_incremental_and_stop_at_the_last_closed_bar(tmp_path):
    store, feed = BarStore(tmp_path / "data"), _CountingFeed()
    t0 = 1_704_067_200_000  # 2024-01-01

    def run(start, end, now):
        return asyncio.run(download(feed, store, "BTC/USDT", "1h", start, end, now_ms=lambda: now))

    first = run(t0, t0 + 48 * HOUR, now=t0 + 1_000 * HOUR)
    assert first.rows == 48 and feed.asked == [(t0, t0 + 48 * HOUR)]
    # Overlapping request: only the new day is fetched.
    second = run(t0 + 24 * HOUR, t0 + 72 * HOUR, now=t0 + 1_000 * HOUR)
    assert feed.asked[-1] == (t0 + 48 * HOUR, t0 + 72 * HOUR) and second.rows == 24
    assert second.skipped == [(t0 + 24 * HOUR, t0 + 48 * HOUR)]
    # A range reaching past "now" is covered only up to the bar still forming.
    third = run(t0 + 72 * HOUR, t0 + 200 * HOUR, now=t0 + 80 * HOUR + 5)
    assert feed.asked[-1] == (t0 + 72 * HOUR, t0 + 80 * HOUR) and third.rows == 8
    assert store.coverage("BTC/USDT", "1h") == [(t0, t0 + 80 * HOUR)]
    stored = store.read("BTC/USDT", "1h")
    assert stored.time_ms.tolist() == [t0 + k * HOUR for k in range(80)]
    assert run(t0, t0 + 80 * HOUR, now=t0 + 1_000 * HOUR).fetched == []
    # The backtester's reader takes the store directly.
    bars = read_bars(tmp_path / "data", symbol="BTC/USDT", timeframe="1h")
    assert bars.time_ms.tolist() == stored.time_ms.tolist()
    assert (tmp_path / "data" / "symbol=BTC%2FUSDT" / "timeframe=1h").is_dir()


def test_data_command_downloads_lists_and_refetches_nothing(tmp_path, capsys):
    from supreme.client.cli import main

    args = [
        "data",
        "download",
        "--source",
        "simulator",
        "--symbol",
        "SIM-A,SIM-B",
        "--timeframe",
        "1d",
        "--start",
        "2024-01-01",
        "--end",
        "2024-02-01",
        "--data-dir",
        str(tmp_path),
        "--json",
    ]
    assert main(args) == 0
    lines = [json.loads(x) for x in capsys.readouterr().out.splitlines()]
    assert [(x["symbol"], x["rows"]) for x in lines] == [("SIM-A", 31), ("SIM-B", 31)]
    assert main(args) == 0
    again = [json.loads(x) for x in capsys.readouterr().out.splitlines()]
    assert all(x["rows"] == 0 and x["fetched"] == [] for x in again)
    assert main(["data", "ls", "--data-dir", str(tmp_path)]) == 0
    listing = capsys.readouterr().out
    assert "SIM-A" in listing and "2024-01-01 00:00 to 2024-02-01 00:00" in listing
    assert main([*args[:2], "--source", "nowhere", *args[4:]]) == 2
    assert "unknown source" in capsys.readouterr().err


def test_bad_timeframes_and_sources_are_refused():
    from supreme.data.cli import make_feed
    from supreme.data.feed import timeframe_ms

    with pytest.raises(InvalidArgument, match="expected one of 1m"):
        timeframe_ms("7m")
    with pytest.raises(InvalidArgument, match="unknown source"):
        make_feed("ftp:somewhere")
    assert np.isclose(timeframe_ms("4h"), 4 * HOUR)
