"""``RiskActor``: the one risk authority of the cluster (a thin shell over RiskDesk).

A named singleton (``"risk"``). Every order intent is decided here: strategy signals
(:meth:`RiskActor.on_signals`), the engine's own exits on each batch of bars
(:meth:`RiskActor.on_bars`) and manual orders (:meth:`RiskActor.evaluate`). The actor returns
decisions; the caller submits the approved orders to the ExecutionActor and journals the denied
ones (``ExecutionActor.route`` does both). Fills come back from the ExecutionActor
(:meth:`RiskActor.on_fills`) and update positions and PnL.

**Durability.** The desk's state is checkpointed (``RiskDesk.snapshot``) into
``<state_dir>/risk.sqlite`` (an :class:`~supreme.core.execution.OrderJournal`'s checkpoint
table) before a call that changed it returns: after fills, after any decision, after any risk
event (state changes, breakers, day rolls) and after every control call. A batch of bars that
only moved marks (prices, ATR, peak equity) is checkpointed at most every
``checkpoint_interval_s`` (and on :meth:`ping` / :meth:`checkpoint`): losing the last marks is
harmless, the next bars re-mark. Decisions are never lost: the orders they stand for are in the
execution journal too. After a crash Ray restarts the actor (``max_restarts``) and ``__init__``
restores the last checkpoint.

**Ordering.** Like every actor here it runs one call at a time, in call order per caller. The
caller must submit one call's approved orders before the next decision call for the same
symbols and pass the execution's open orders (see :mod:`supreme.core.desk`).
"""

from __future__ import annotations

import logging
import os
import time
import uuid
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import ray

from supreme.core.desk import RiskDesk
from supreme.core.errors import InvalidArgument
from supreme.core.execution import OrderJournal
from supreme.core.model import (
    BarBatch,
    Fill,
    Instrument,
    Order,
    OrderIntent,
    Portfolio,
    Position,
    Signal,
)
from supreme.core.risk import RiskConfig, RiskDecision, TradingState

__all__ = ["CHECKPOINT_NAME", "RiskActor"]

log = logging.getLogger(__name__)

CHECKPOINT_NAME = "risk_desk"


def _signals(items: Iterable[Signal | tuple[str, Signal]]) -> list[Signal]:
    """Signals, also from the ``(instance id, signal)`` pairs a shard returns."""
    return [item[1] if isinstance(item, tuple) else item for item in items]


def _risk_config(value: RiskConfig | Mapping[str, Any] | None) -> RiskConfig | None:
    if value is None or isinstance(value, RiskConfig):
        return value
    return RiskConfig.from_mapping(value)


@ray.remote(num_cpus=0)
class RiskActor:
    """See the module docstring."""

    def __init__(
        self,
        state_dir: str,
        *,
        initial_cash: float = 100_000.0,
        risk_config: RiskConfig | Mapping[str, Any] | None = None,
        atr_period: int = 14,
        id_prefix: str = "live",
        checkpoint_interval_s: float = 1.0,
    ) -> None:
        Path(state_dir).mkdir(parents=True, exist_ok=True)
        self._journal = OrderJournal(Path(state_dir) / "risk.sqlite")
        self._interval = float(checkpoint_interval_s)
        self._incarnation = uuid.uuid4().hex
        saved = self._journal.load_checkpoint(CHECKPOINT_NAME)
        if saved is not None:
            self._desk = RiskDesk.restore(saved)
            self.restored = True
            if self._desk.initial_cash != float(initial_cash):
                log.warning(
                    "risk checkpoint has initial cash %s; ignoring the configured %s",
                    self._desk.initial_cash,
                    initial_cash,
                )
        else:
            self._desk = RiskDesk(
                _risk_config(risk_config),
                initial_cash=initial_cash,
                atr_period=atr_period,
                id_prefix=id_prefix,
            )
            self.restored = False
        self._saved_events = self._desk.event_count
        self._dirty = saved is None
        self._last_save = 0.0
        self.checkpoints = 0
        self.checkpoint_seconds = 0.0
        if self._dirty:
            self._save()

    # -- checkpoints ---------------------------------------------------------------------------

    def _save(self) -> None:
        started = time.perf_counter()
        self._journal.save_checkpoint(CHECKPOINT_NAME, self._desk.snapshot(), self._desk.now_ms)
        self._last_save = time.monotonic()
        self._saved_events = self._desk.event_count
        self._dirty = False
        self.checkpoints += 1
        self.checkpoint_seconds += time.perf_counter() - started

    def _changed(self, *, hard: bool) -> None:
        """Record a state change: saved now when ``hard`` or when risk events were emitted,
        else at most every ``checkpoint_interval_s``."""
        self._dirty = True
        if (
            hard
            or self._desk.event_count != self._saved_events
            or time.monotonic() - self._last_save >= self._interval
        ):
            self._save()

    def checkpoint(self) -> int:
        """Save now if anything changed; returns the number of checkpoints written so far."""
        if self._dirty:
            self._save()
        return self.checkpoints

    # -- decisions -----------------------------------------------------------------------------

    def on_signals(
        self,
        signals: Iterable[Signal | tuple[str, Signal]],
        open_orders: Iterable[Order] = (),
    ) -> list[RiskDecision]:
        """Decisions on the intents of ``signals`` (Signal objects or a shard's
        ``(instance id, signal)`` pairs), in order."""
        items = _signals(signals)
        decisions = self._desk.on_signals(items, open_orders)
        if items:
            self._changed(hard=bool(decisions))
        return decisions

    def evaluate(
        self, intent: OrderIntent, open_orders: Iterable[Order] = (), now_ms: int | None = None
    ) -> RiskDecision:
        """The decision on one (manual) order intent."""
        decision = self._desk.evaluate(intent, open_orders, now_ms)
        self._changed(hard=True)
        return decision

    def on_bars(self, batch: BarBatch, open_orders: Iterable[Order] = ()) -> list[RiskDecision]:
        """Mark the bars; decisions on the exits (stops, take-profits, drawdown flattening)."""
        decisions = self._desk.on_bars(batch, open_orders)
        if len(batch):
            self._changed(hard=bool(decisions))
        return decisions

    def flatten(
        self, open_orders: Iterable[Order] = (), reason: str = "flatten requested"
    ) -> list[RiskDecision]:
        """Decisions closing every open position (allowed even when HALTED)."""
        decisions = self._desk.flatten(open_orders, reason=reason)
        self._changed(hard=True)
        return decisions

    def on_fills(self, fills: Iterable[Fill], now_ms: int) -> int:
        """Book fills (a fill id seen before is skipped); returns how many were applied."""
        applied = self._desk.on_fills(fills, now_ms)
        if applied:
            self._changed(hard=True)
        return len(applied)

    # -- controls ------------------------------------------------------------------------------

    def set_trading_state(self, state: TradingState | str, reason: str = "") -> dict[str, Any]:
        """Set the manual trading state; returns the risk status."""
        try:
            value = state if isinstance(state, TradingState) else TradingState(str(state).upper())
        except ValueError:
            raise InvalidArgument(
                f"unknown trading state {state!r}; expected one of "
                f"{[s.value for s in TradingState]}"
            ) from None
        self._desk.set_trading_state(value, reason)
        self._changed(hard=True)
        return self._desk.risk_status()

    def update_limits(self, changes: Mapping[str, Any]) -> dict[str, Any]:
        """Apply new limits (validated, all or nothing); returns the new config."""
        config = self._desk.update_limits(dict(changes))
        self._changed(hard=True)
        return config.to_dict()

    def reset_breakers(self, names: Iterable[str] | None = None) -> list[str]:
        cleared = self._desk.reset_breakers(names)
        self._changed(hard=True)
        return cleared

    def record_venue_error(self, reason: str) -> None:
        self._desk.record_venue_error(reason)
        self._changed(hard=True)

    def record_reconciliation(self, report: Mapping[str, Any]) -> str:
        """What execution found comparing its journal with the venue (see
        ``RiskEngine.record_reconciliation``); returns the trading state after it."""
        self._desk.record_reconciliation(report)
        self._changed(hard=True)
        return self._desk.state.value

    def set_instruments(self, instruments: Iterable[Instrument]) -> int:
        """The venue's tick and lot sizes and minimums, checked before any order is approved;
        returns how many symbols are known."""
        for instrument in instruments:
            if not isinstance(instrument, Instrument):
                raise InvalidArgument(f"expected an Instrument, got {type(instrument).__name__}")
            self._desk.set_instrument(instrument)
        self._changed(hard=True)
        return len(self._desk.instruments)

    # -- views ---------------------------------------------------------------------------------

    def status(self) -> dict[str, Any]:
        return self._desk.risk_status()

    def trading_state(self) -> str:
        return self._desk.state.value

    def positions(self) -> dict[str, Position]:
        return self._desk.positions()

    def strategy_positions(self) -> list[dict[str, Any]]:
        return [
            {"strategy": strategy, "symbol": symbol, "quantity": quantity}
            for (strategy, symbol), quantity in sorted(self._desk.strategy_positions().items())
        ]

    def portfolio(self) -> tuple[Portfolio, dict[str, float]]:
        """The portfolio and the last prices it is marked at."""
        return self._desk.portfolio, dict(self._desk.prices)

    def drain_events(self) -> list[dict[str, Any]]:
        """Risk events since the last drain, oldest first, as ``RiskEvent.to_dict()``."""
        return [event.to_dict() for event in self._desk.drain_events()]

    def ping(self) -> dict[str, Any]:
        self.checkpoint()
        return {
            "actor": "risk",
            "incarnation": self._incarnation,
            "pid": os.getpid(),
            "restored": self.restored,
            "state": self._desk.state.value,
            "checkpoints": self.checkpoints,
            "checkpoint_seconds": self.checkpoint_seconds,
        }

    def close(self) -> None:
        """Save and close the checkpoint file (the actor is unusable afterwards)."""
        if not self._journal.closed:
            self.checkpoint()
            self._journal.close()
