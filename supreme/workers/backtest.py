"""Backtests on the cluster: one Ray task per run, progress streamed back.

A backtest is CPU-bound pure Python; run in the gateway's process it would hold the GIL and
stall every stream the gateway serves. :func:`run_backtest_remote` runs it as a Ray task (one CPU)
instead: a streaming generator task that yields ``("progress", (done, total))`` items while the
backtest runs and ``("report", BacktestReport)`` at the end. Cancelling the awaiting coroutine
cancels the task.
"""

from __future__ import annotations

import asyncio
import contextlib
import queue
import threading
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

import ray

from supreme.core.backtest import Backtest, BacktestConfig, BacktestReport, StrategySpec
from supreme.core.execution import PaperBrokerConfig
from supreme.core.model import BarBatch

__all__ = ["backtest_config", "run_backtest_remote"]

PROGRESS_UPDATES = 50  # progress items per run, about


def backtest_config(options: Mapping[str, Any] | None, total_bars: int) -> BacktestConfig:
    """A :class:`BacktestConfig` from ``initial_cash``, ``fee_bps``, ``slippage_bps`` (and any
    other BacktestConfig field) in ``options``."""
    values = dict(options or {})
    broker = {k: values.pop(k) for k in ("fee_bps", "slippage_bps") if k in values}
    if broker:
        values["broker"] = PaperBrokerConfig(**broker)
    values.setdefault("progress_every", max(1, total_bars // PROGRESS_UPDATES))
    return BacktestConfig(**values)


def _run_streaming(
    bars: BarBatch, specs: Sequence[StrategySpec | str], config: BacktestConfig
) -> Iterator[tuple[str, Any]]:
    updates: queue.Queue[tuple[int, int] | None] = queue.Queue()
    outcome: dict[str, Any] = {}

    def work() -> None:
        try:
            outcome["report"] = Backtest(specs, config).run(
                bars, progress=lambda done, total: updates.put((done, total))
            )
        except BaseException as exc:
            outcome["error"] = exc
        finally:
            updates.put(None)

    thread = threading.Thread(target=work, name="backtest", daemon=True)
    thread.start()
    while (item := updates.get()) is not None:
        yield "progress", item
    thread.join()
    if "error" in outcome:
        raise outcome["error"]
    yield "report", outcome["report"]


@ray.remote(num_cpus=1, num_returns="streaming", max_retries=0)
def _backtest_task(
    bars: BarBatch, specs: Sequence[StrategySpec | str], config: BacktestConfig
) -> Iterator[tuple[str, Any]]:
    yield from _run_streaming(bars, specs, config)


async def run_backtest_remote(
    bars: BarBatch,
    specs: Sequence[StrategySpec | str],
    options: Mapping[str, Any] | None = None,
    progress: asyncio.Queue | None = None,
) -> BacktestReport:
    """Run a backtest as a Ray task; ``(bars done, total)`` tuples go to ``progress``."""
    config = backtest_config(options, len(bars))
    generator = _backtest_task.remote(bars, list(specs), config)
    report: BacktestReport | None = None
    try:
        async for ref in generator:
            kind, value = await ref
            if kind == "progress":
                if progress is not None:
                    progress.put_nowait(value)
            else:
                report = value
    except asyncio.CancelledError:
        with contextlib.suppress(Exception):
            ray.cancel(generator, force=True)
        raise
    if report is None:
        raise RuntimeError("the backtest task ended without a report")
    return report
