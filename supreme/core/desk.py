"""The trading desk: risk engine, portfolio, marks and ATR, behind one small API.

:class:`RiskDesk` is the glue between market data, strategy signals, fills and the
:class:`~supreme.core.risk.RiskEngine`. The backtester and the live ``RiskActor`` both use it,
so a backtest and live trading take every risk decision through the same code:

* :meth:`RiskDesk.on_fills`: fills update the portfolio and the engine (post-trade);
* :meth:`RiskDesk.on_bar` / :meth:`RiskDesk.on_bars`: bars update the last prices and the
  per-symbol ATR, then the engine marks to market and may ask to exit (stop-loss,
  take-profit, drawdown flattening); those intents are evaluated and their decisions returned;
* :meth:`RiskDesk.on_signal`: a strategy's signal becomes intents
  (:func:`~supreme.core.trading.intents_for_signal`), each evaluated by the engine;
* :meth:`RiskDesk.evaluate`: a manual order intent.

The desk never sends an order. It returns :class:`~supreme.core.risk.RiskDecision` values; the
caller submits the approved ones (:func:`decision_order` builds the order) and journals the
denied ones. Within one call, an approved decision counts as a pending order for the decisions
after it (a reversal's open sees its close), but between calls the caller must pass the open
orders: submit one call's decisions before the next call for the same symbols.

Time is explicit as in the engine: the desk's clock (:attr:`RiskDesk.now_ms`) is the latest
time it has seen on a bar, signal or fill, and the state-changing operations that take no
market input (limits, states, breaker resets) default to it.
"""

from __future__ import annotations

import math
from collections import OrderedDict, deque
from collections.abc import Iterable, Mapping
from dataclasses import asdict
from typing import Any

from supreme.core.errors import InvalidArgument
from supreme.core.indicators import ATR
from supreme.core.model import (
    Bar,
    BarBatch,
    Fill,
    Instrument,
    Order,
    OrderIntent,
    Portfolio,
    Position,
    Signal,
)
from supreme.core.risk import (
    MarketState,
    RiskConfig,
    RiskDecision,
    RiskEngine,
    RiskEvent,
    TradingState,
)
from supreme.core.trading import ClientOrderIds, intents_for_signal

__all__ = ["RiskDesk", "SessionOrderIds", "decision_order"]

SNAPSHOT_VERSION = 1
# Fill ids remembered to drop a fill delivered twice (a retried call after a restart).
FILL_ID_MEMORY = 10_000


class SessionOrderIds(ClientOrderIds):
    """:class:`ClientOrderIds` whose counter can be read and restored, so a restarted desk
    continues the sequence instead of re-issuing ids (the same ``<prefix>-<strategy>-<symbol>-
    <time>-<n>`` format)."""

    def __init__(self, prefix: str = "live", issued: int = 0) -> None:
        super().__init__(prefix)
        self.prefix = prefix
        self.issued = int(issued)

    def next(self, strategy: str, symbol: str, time_ms: int) -> str:
        self.issued += 1
        return f"{self.prefix}-{strategy}-{symbol}-{time_ms}-{self.issued}"


def decision_order(decision: RiskDecision, time_ms: int | None = None) -> Order:
    """The order a decision stands for, created at ``time_ms`` (default: the decision's time).

    Approved: a NEW order for the approved quantity, to submit. Denied: a DENIED order (for the
    requested quantity, or 0 when risk was to size it) whose reason starts with the reason code
    (``"HALTED: ..."``), to journal with ``ExecutionEngine.record_denied``.
    """
    if decision.intent is None:
        raise InvalidArgument(f"decision {decision.client_order_id!r} is not about an order")
    now = decision.event.time_ms if time_ms is None else time_ms
    if decision.approved:
        return Order.from_intent(decision.intent, decision.quantity, now)
    return Order.denied(decision.intent, now, f"{decision.reason_code.name}: {decision.reason}")


def _instrument_dict(instrument: Instrument) -> dict[str, Any]:
    return asdict(instrument)


class RiskDesk:
    """Risk engine + portfolio + marks + ATR for one account; see the module docstring."""

    def __init__(
        self,
        risk_config: RiskConfig | None = None,
        *,
        initial_cash: float,
        atr_period: int = 14,
        id_prefix: str = "live",
        instruments: Mapping[str, Instrument] | None = None,
    ) -> None:
        if isinstance(atr_period, bool) or not isinstance(atr_period, int) or atr_period < 1:
            raise InvalidArgument(f"atr_period must be an integer >= 1, got {atr_period!r}")
        if not isinstance(id_prefix, str) or not id_prefix.strip():
            raise InvalidArgument(f"id_prefix must be a non-empty string, got {id_prefix!r}")
        self.risk = RiskEngine(risk_config, starting_equity=initial_cash)
        self.initial_cash = float(initial_cash)
        self.atr_period = atr_period
        self.portfolio = Portfolio(cash=self.initial_cash)
        # Last close and current ATR per symbol. Updated in place, never rebound: the desk's
        # MarketState is a live view of these dicts.
        self.prices: dict[str, float] = {}
        self.atr_values: dict[str, float] = {}
        self.instruments: dict[str, Instrument] = dict(instruments or {})
        self.ids = SessionOrderIds(id_prefix)
        self.now_ms = 0
        self._atr: dict[str, ATR] = {}
        self._last_bar_ms: dict[str, int] = {}
        self._seen_fills: OrderedDict[str, None] = OrderedDict()
        self._events: deque[RiskEvent] = deque(maxlen=self.risk.config.max_events)
        self._event_count = 0
        self._market = MarketState(self.prices, self.atr_values, self.instruments)

    # -- market --------------------------------------------------------------------------------

    def market(self) -> MarketState:
        """The market as risk sees it (live views of the desk's prices, ATR and instruments)."""
        return self._market

    def set_instrument(self, instrument: Instrument) -> None:
        self.instruments[instrument.symbol] = instrument

    def _tick(self, now_ms: int) -> None:
        if now_ms > self.now_ms:
            self.now_ms = now_ms

    def _apply_bar(self, bar: Bar) -> bool:
        """Update the mark and the ATR; False (nothing applied) for a bar not after the last
        one of its symbol."""
        symbol = bar.symbol
        last = self._last_bar_ms.get(symbol)
        if last is not None and bar.time_ms <= last:
            return False
        self._last_bar_ms[symbol] = bar.time_ms
        self.prices[symbol] = bar.close
        atr = self._atr.get(symbol)
        if atr is None:
            atr = self._atr[symbol] = ATR(self.atr_period)
        value = atr.update(bar.high, bar.low, bar.close)
        if value == value:  # not NaN
            self.atr_values[symbol] = value
        self._tick(bar.time_ms)
        return True

    def _mark(self, now_ms: int, pending: list[Order]) -> list[RiskDecision]:
        intents = self.risk.on_mark(self.portfolio, self.market(), now_ms)
        decisions = self._evaluate_all(intents, now_ms, pending) if intents else []
        return decisions

    def on_bar(self, bar: Bar, open_orders: Iterable[Order] = ()) -> list[RiskDecision]:
        """Mark ``bar`` (price, ATR), run the engine's in-trade checks and return the decisions
        on the exit/flatten intents they produced. A bar not after the previous bar of its
        symbol is ignored."""
        if not self._apply_bar(bar):
            return []
        return self._mark(bar.time_ms, [o for o in open_orders if o.is_open])

    def on_bars(self, batch: BarBatch, open_orders: Iterable[Order] = ()) -> list[RiskDecision]:
        """:meth:`on_bar` for a batch, marking once per run of rows with the same time (all the
        symbols of one instant are priced before the portfolio is marked)."""
        pending = [o for o in open_orders if o.is_open]
        decisions: list[RiskDecision] = []
        current: int | None = None
        for bar in batch:
            if current is not None and bar.time_ms != current:
                decisions += self._mark(current, pending)
                current = None
            if self._apply_bar(bar):
                current = bar.time_ms
        if current is not None:
            decisions += self._mark(current, pending)
        return decisions

    # -- fills ---------------------------------------------------------------------------------

    def on_fills(self, fills: Iterable[Fill], now_ms: int) -> list[Fill]:
        """Book fills into the portfolio and the engine; returns the fills applied (a fill id
        already booked is skipped, so a re-delivered batch changes nothing)."""
        applied: list[Fill] = []
        if not fills:
            return applied
        for fill in fills:
            if fill.fill_id in self._seen_fills:
                continue
            self._seen_fills[fill.fill_id] = None
            while len(self._seen_fills) > FILL_ID_MEMORY:
                self._seen_fills.popitem(last=False)
            self.portfolio = self.portfolio.apply_fill(fill)
            self.risk.on_fill(fill, self.portfolio, now_ms)
            applied.append(fill)
        self._tick(now_ms)
        return applied

    # -- orders --------------------------------------------------------------------------------

    def held(self, strategy: str, symbol: str, open_orders: Iterable[Order] = ()) -> float:
        """What ``strategy`` holds in ``symbol``: its attributed position plus the signed
        remaining quantity of its open orders."""
        held = self.risk.ledger.position(strategy, symbol)
        for order in open_orders:
            if order.is_open and order.strategy == strategy and order.symbol == symbol:
                held += order.side.sign * order.remaining_quantity
        return held

    def _evaluate_all(
        self, intents: Iterable[OrderIntent], now_ms: int, pending: list[Order]
    ) -> list[RiskDecision]:
        """Evaluate ``intents`` in order; each approved one joins ``pending`` for the next."""
        decisions = []
        market = self.market()
        for intent in intents:
            decision = self.risk.evaluate(
                intent, self.portfolio, market, now_ms, open_orders=pending
            )
            decisions.append(decision)
            if decision.approved:
                pending.append(decision_order(decision, now_ms))
        return decisions

    def on_signal(self, signal: Signal, open_orders: Iterable[Order] = ()) -> list[RiskDecision]:
        """The decisions on the intents that move the signal's strategy to its target."""
        return self.on_signals([signal], open_orders)

    def on_signals(
        self, signals: Iterable[Signal], open_orders: Iterable[Order] = ()
    ) -> list[RiskDecision]:
        """:meth:`on_signal` for several signals, in order; the orders approved for one signal
        are pending for the next."""
        pending = [o for o in open_orders if o.is_open]
        decisions: list[RiskDecision] = []
        for signal in signals:
            self._tick(signal.time_ms)
            held = self.held(signal.strategy, signal.symbol, pending)
            intents = intents_for_signal(signal, held, self.ids)
            decisions += self._evaluate_all(intents, signal.time_ms, pending)
        return decisions

    def evaluate(
        self,
        intent: OrderIntent,
        open_orders: Iterable[Order] = (),
        now_ms: int | None = None,
    ) -> RiskDecision:
        """Decide on one (manual) intent at ``now_ms`` (default: the desk's clock, or the
        intent's time if later)."""
        now = max(self.now_ms, intent.time_ms) if now_ms is None else now_ms
        self._tick(now)
        decision = self._evaluate_all([intent], now, [o for o in open_orders if o.is_open])[0]
        return decision

    def flatten(
        self,
        open_orders: Iterable[Order] = (),
        now_ms: int | None = None,
        *,
        reason: str = "flatten requested",
    ) -> list[RiskDecision]:
        """Decisions on reduce-only intents closing every open position (approved even when
        HALTED)."""
        now = self.now_ms if now_ms is None else now_ms
        intents = self.risk.flatten_intents(self.portfolio, now, reason=reason)
        decisions = self._evaluate_all(intents, now, [o for o in open_orders if o.is_open])
        return decisions

    # -- controls ------------------------------------------------------------------------------

    def set_trading_state(
        self, state: TradingState, reason: str, now_ms: int | None = None
    ) -> None:
        self.risk.set_trading_state(state, reason, self.now_ms if now_ms is None else now_ms)

    def update_limits(self, changes: Mapping[str, Any], now_ms: int | None = None) -> RiskConfig:
        config = self.risk.update_limits(self.now_ms if now_ms is None else now_ms, **changes)
        if self._events.maxlen != config.max_events:
            self._events = deque(self._events, maxlen=config.max_events)
        return config

    def reset_breakers(
        self, names: Iterable[str] | None = None, now_ms: int | None = None
    ) -> list[str]:
        cleared = self.risk.reset_breakers(self.now_ms if now_ms is None else now_ms, names)
        return cleared

    def record_venue_error(self, reason: str, now_ms: int | None = None) -> None:
        self.risk.record_venue_error(self.now_ms if now_ms is None else now_ms, reason)

    def record_reconciliation(self, report: Mapping[str, Any], now_ms: int | None = None) -> None:
        self.risk.record_reconciliation(self.now_ms if now_ms is None else now_ms, report)

    # -- views ---------------------------------------------------------------------------------

    @property
    def state(self) -> TradingState:
        return self.risk.state

    def positions(self) -> dict[str, Position]:
        """Open net positions by symbol."""
        return self.portfolio.open_positions()

    def strategy_positions(self) -> dict[tuple[str, str], float]:
        """Signed quantities attributed to each (strategy, symbol)."""
        return self.risk.ledger.positions()

    def equity(self) -> float:
        return self.portfolio.equity(self.prices)

    def risk_status(self) -> dict[str, Any]:
        """The engine's status plus the account figures: equity, drawdown (now), exposure, PnL;
        ``limits`` is the engine's ``config``."""
        self._collect()
        status = self.risk.status()
        status["pending_events"] = len(self._events)
        prices = self.prices
        portfolio = self.portfolio
        equity = portfolio.equity(prices)
        status.update(
            {
                "now_ms": self.now_ms,
                "initial_cash": self.initial_cash,
                "cash": portfolio.cash,
                "equity": equity,
                "drawdown": self.risk.drawdown(portfolio, self.market()),
                "gross_exposure": portfolio.gross_exposure(prices),
                "net_exposure": portfolio.net_exposure(prices),
                "realized_pnl": portfolio.realized_pnl,
                "unrealized_pnl": portfolio.unrealized_pnl(prices),
                "fees": portfolio.fees,
                "open_positions": len(portfolio.open_positions()),
                "limits": status["config"],
            }
        )
        return status

    def _collect(self) -> None:
        events = self.risk.drain_events()
        if events:
            self._events.extend(events)
            self._event_count += len(events)

    @property
    def event_count(self) -> int:
        """Risk events emitted so far, drained or not: a change counter."""
        self._collect()
        return self._event_count

    def drain_events(self) -> list[RiskEvent]:
        """Every risk event since the last drain, oldest first (bounded by ``max_events``)."""
        self._collect()
        events = list(self._events)
        self._events.clear()
        return events

    # -- persistence ---------------------------------------------------------------------------

    def snapshot(self) -> dict[str, Any]:
        """The whole state as JSON-safe data (pending events are not included: drain first)."""
        self._collect()
        return {
            "version": SNAPSHOT_VERSION,
            "initial_cash": self.initial_cash,
            "atr_period": self.atr_period,
            "id_prefix": self.ids.prefix,
            "ids_issued": self.ids.issued,
            "now_ms": self.now_ms,
            "event_count": self._event_count,
            "risk": self.risk.snapshot(),
            "portfolio": self.portfolio.to_dict(),
            "prices": dict(self.prices),
            "atr_values": dict(self.atr_values),
            "atr": {s: a.snapshot() for s, a in self._atr.items()},
            "last_bar_ms": dict(self._last_bar_ms),
            "seen_fills": list(self._seen_fills),
            "instruments": {s: _instrument_dict(i) for s, i in self.instruments.items()},
        }

    @classmethod
    def restore(cls, data: Mapping[str, Any]) -> RiskDesk:
        """A desk in the state :meth:`snapshot` captured."""
        if not isinstance(data, Mapping) or data.get("version") != SNAPSHOT_VERSION:
            raise InvalidArgument(f"not a risk desk snapshot of version {SNAPSHOT_VERSION}")
        desk = cls(
            None,
            initial_cash=float(data["initial_cash"]),
            atr_period=int(data["atr_period"]),
            id_prefix=str(data["id_prefix"]),
            instruments={s: Instrument(**i) for s, i in data.get("instruments", {}).items()},
        )
        desk.risk = RiskEngine.restore(data["risk"])
        desk._events = deque(maxlen=desk.risk.config.max_events)
        desk.ids = SessionOrderIds(str(data["id_prefix"]), int(data["ids_issued"]))
        desk.now_ms = int(data["now_ms"])
        desk._event_count = int(data.get("event_count", 0))
        desk.portfolio = Portfolio.from_dict(data["portfolio"])
        # In place: the desk's MarketState views these very dicts.
        desk.prices.update((s, float(p)) for s, p in data["prices"].items())
        desk.atr_values.update(
            (s, float(v))
            for s, v in data["atr_values"].items()
            if v is not None and math.isfinite(v)
        )
        desk._atr = {s: ATR.restore(snap) for s, snap in data["atr"].items()}
        desk._last_bar_ms = {s: int(t) for s, t in data["last_bar_ms"].items()}
        desk._seen_fills = OrderedDict((f, None) for f in data["seen_fills"])
        return desk
