"""The risk engine: the one authority that approves, resizes or denies every order.

Time is explicit: every method that depends on it takes ``now_ms`` (UTC milliseconds); the
engine never reads a clock, so a backtest and a replay decide exactly as live trading did.

**Trading state.** The effective state is the most restrictive of the manual state
(:meth:`RiskEngine.set_trading_state`) and the state of every tripped breaker (daily loss,
consecutive losses, error burst, drawdown). A manual ACTIVE therefore never overrides a
breaker: breakers clear by :meth:`RiskEngine.reset_breakers` or by their cool-down, and the
manual state only changes by :meth:`RiskEngine.set_trading_state`.

* ACTIVE: every order the checks and limits allow.
* REDUCING: only orders that reduce ``|net position|`` of their symbol, capped at what is
  reducible (the position minus open orders already working against it).
* HALTED: nothing but cancels and the engine's own exit/flatten intents.

**Pre-trade checks**, in order, the first failure denies: duplicate client order id (ids the
engine approved and ids of the given open orders); the order itself (finite positive
quantity and prices, LIMIT/STOP prices present); the trading state; a last price for the
symbol (``NO_PRICE``); the price band (a LIMIT/STOP price more than ``price_band_pct`` away
from the last price); the tick (a LIMIT/STOP price off ``Instrument.price_increment`` is
*denied* with ``PRECISION``, not rounded, because rounding a price changes the trader's
intent); the order rate (approvals per rolling 60 s); then quantity: sizing (quantity None) or
the explicit quantity, resized down to the caps (order notional, per-symbol position incl.
open orders, gross exposure incl. open orders and the new order); quantities are rounded
*down* to the lot (``Instrument.quantity_increment``); then minimum quantity and notional.
A request cut by a cap or by lot rounding is approved as ``RESIZED``; one cut to nothing is
denied with the code of the cap that bound. Prices used: a LIMIT order's limit price (STOP:
stop price, MARKET: last price) for its notional; the last price for positions and exposure.

**Reducing orders.** An order reduces exposure when it is opposite to the net position and no
larger than what is reducible; it skips the exposure caps. ``reduce_only`` intents larger than
that are cut to it; in ACTIVE a ``reduce_only`` intent that closes its own strategy's
attributed position (see :class:`TradeLedger`) while the net position is smaller (several
strategies in one symbol) is treated as an ordinary order with caps instead.

**Circuit breakers** (see :mod:`supreme.core.risk.breakers`): daily loss (HALTED, evaluated
on :meth:`on_mark` against the equity of the UTC day's first mark; the engine's first day
starts at ``starting_equity``). A new UTC day re-bases the baseline but does *not* clear a
daily-loss halt: that needs an explicit reset or ``daily_loss_cooldown_ms``; a reset or the
cool-down re-bases the baseline to the last marked equity. Consecutive losing round trips
(REDUCING, cool-down). Venue error bursts (HALTED). Drawdown from peak equity (SOFT: REDUCING
and sizes scaled by ``drawdown_size_scale`` while drawdown >= soft; HARD: HALTED and one set
of flattening intents; resetting HARD re-bases the peak to the last marked equity).

**In-trade.** Each new position gets protection levels: the opening intent's ``stop_loss`` /
``take_profit``, or, when the order was sized with an ATR stop, a default stop at
``average price -/+ atr_stop_multiple * ATR`` (and a take-profit at
``take_profit_atr_multiple * ATR`` when configured). :meth:`on_mark` returns one reduce-only
MARKET exit per crossed level, once per position (not re-issued if the exit fails).

**Post-trade.** Every fill is checked (unknown order, unknown symbol, side mismatch, overfill;
flagged fills are still booked: they happened) and attributed to its strategy; fills of the
engine's own exits are given to the strategies whose positions they close.

Every decision, state change and breaker transition is a :class:`RiskEvent` in a bounded
queue (:meth:`drain_events`). :meth:`snapshot` / :meth:`restore` carry the whole state
(events excepted) across a restart.
"""

from __future__ import annotations

import math
from collections import OrderedDict, deque
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from supreme.core.errors import InvalidArgument
from supreme.core.model import (
    QTY_EPSILON,
    Fill,
    Instrument,
    Order,
    OrderIntent,
    OrderType,
    Portfolio,
    Side,
)
from supreme.core.risk.breakers import (
    Breaker,
    ConsecutiveLossBreaker,
    DailyLossBreaker,
    DrawdownBreaker,
    ErrorBurstBreaker,
    ReconciliationBreaker,
    reached,
)
from supreme.core.risk.config import RiskConfig
from supreme.core.risk.events import (
    DecisionOutcome,
    EventKind,
    RiskDecision,
    RiskEvent,
    RiskReason,
    TradingState,
    most_restrictive,
)
from supreme.core.risk.sizing import SizingMethod, SizingResult, size_order
from supreme.core.risk.trades import TradeLedger

__all__ = [
    "DAY_MS",
    "ENGINE_STRATEGY",
    "RATE_WINDOW_MS",
    "MarketState",
    "RiskDecision",
    "RiskEngine",
    "RiskEvent",
    "RiskReason",
    "TradingState",
]

DAY_MS = 86_400_000
RATE_WINDOW_MS = 60_000
ENGINE_STRATEGY = "risk"  # strategy of every intent the engine generates
SNAPSHOT_VERSION = 1
_REL = 1e-9  # relative tolerance on quantity comparisons


def _num(x: float | None) -> str:
    return "n/a" if x is None else f"{x:.10g}"


def _valid_price(value: object) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        try:
            value = float(value)  # numpy scalars
        except (TypeError, ValueError):
            return None
    value = float(value)
    return value if math.isfinite(value) and value > 0 else None


def _require_time(now_ms: object) -> int:
    if isinstance(now_ms, bool) or not isinstance(now_ms, int) or now_ms < 0:
        raise InvalidArgument(f"now_ms must be a non-negative integer (UTC ms), got {now_ms!r}")
    return now_ms


@dataclass(frozen=True)
class MarketState:
    """What the engine knows of the market at decision time.

    ``prices`` are last prices, ``atr`` the current ATR per symbol, ``instruments`` the venue
    constraints (a symbol without one has no precision constraint). The mappings are used as
    given (not copied), so building one per call is cheap.
    """

    prices: Mapping[str, float] = field(default_factory=dict)
    atr: Mapping[str, float] = field(default_factory=dict)
    instruments: Mapping[str, Instrument] = field(default_factory=dict)

    def price(self, symbol: str) -> float | None:
        """The last price, or None when missing or not a finite positive number."""
        return _valid_price(self.prices.get(symbol))

    def atr_of(self, symbol: str) -> float | None:
        return _valid_price(self.atr.get(symbol))

    def instrument(self, symbol: str) -> Instrument | None:
        return self.instruments.get(symbol)


@dataclass(slots=True)
class _Outcome:
    """A decision in the making."""

    approved: bool
    quantity: float
    code: RiskReason
    message: str
    details: dict[str, Any]


class _Deny(Exception):
    def __init__(self, code: RiskReason, message: str, **details: Any) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.details = details


class RiskEngine:
    """Pre-trade, in-trade and post-trade risk for one account (see the module docstring)."""

    def __init__(self, config: RiskConfig | None = None, *, starting_equity: float) -> None:
        if config is None:
            config = RiskConfig()
        if not isinstance(config, RiskConfig):
            raise InvalidArgument(f"config must be a RiskConfig, got {type(config).__name__}")
        if (
            isinstance(starting_equity, bool)
            or not isinstance(starting_equity, int | float)
            or not math.isfinite(starting_equity)
            or starting_equity <= 0
        ):
            raise InvalidArgument(
                f"starting_equity must be a finite number > 0, got {starting_equity!r}"
            )
        self._config = config
        self._starting_equity = float(starting_equity)
        self._manual_state = TradingState.ACTIVE
        self._manual_reason = ""
        self._effective = TradingState.ACTIVE
        self._breakers: dict[str, Breaker] = {
            b.name: b
            for b in (
                DailyLossBreaker(),
                ConsecutiveLossBreaker(),
                ErrorBurstBreaker(),
                DrawdownBreaker(),
                ReconciliationBreaker(),
            )
        }
        self._peak_equity = self._starting_equity
        self._last_equity: float | None = None
        self._day: int | None = None
        self._day_start_equity = self._starting_equity
        self.ledger = TradeLedger(config.kelly_window, config.trade_history_limit)
        # client order id -> what was approved (symbol, side, quantity, filled, protection...)
        self._orders: OrderedDict[str, dict[str, Any]] = OrderedDict()
        # client order id -> (symbol, side) of exits/flattens the engine generated, not yet seen
        self._issued: OrderedDict[str, tuple[str, str]] = OrderedDict()
        self._approvals: deque[int] = deque()
        self._protections: dict[str, dict[str, Any]] = {}
        self._events: deque[RiskEvent] = deque(maxlen=config.max_events)
        self._dropped_events = 0

    # ------------------------------------------------------------------------------------------
    # Read-only views
    # ------------------------------------------------------------------------------------------

    @property
    def config(self) -> RiskConfig:
        return self._config

    @property
    def state(self) -> TradingState:
        """The effective trading state (as of the last call that passed ``now_ms``)."""
        return most_restrictive(self._manual_state, *(b.state for b in self._breakers.values()))

    @property
    def manual_state(self) -> TradingState:
        return self._manual_state

    @property
    def peak_equity(self) -> float:
        return self._peak_equity

    @property
    def day_start_equity(self) -> float:
        return self._day_start_equity

    @property
    def breakers(self) -> Mapping[str, Breaker]:
        return dict(self._breakers)

    def drawdown(self, portfolio: Portfolio, market: MarketState) -> float:
        """Drawdown of the portfolio's equity (unrealized included) from peak equity, >= 0."""
        return self._drawdown_of(portfolio.equity(market.prices))

    def _drawdown_of(self, equity: float) -> float:
        peak = max(self._peak_equity, equity)
        if peak <= 0:
            return 1.0
        return max(0.0, (peak - equity) / peak)

    def size_scale(self, drawdown: float) -> float:
        """The multiplier on new position sizes at ``drawdown``."""
        if reached(drawdown, self._config.drawdown_soft_pct):
            return self._config.drawdown_size_scale
        return 1.0

    def protection(self, symbol: str) -> dict[str, Any] | None:
        """The stop-loss / take-profit tracked for ``symbol``'s position, if any."""
        p = self._protections.get(symbol)
        return None if p is None else dict(p)

    def status(self) -> dict[str, Any]:
        """A JSON-safe picture of the engine for dashboards and health checks."""
        drawdown = None if self._last_equity is None else self._drawdown_of(self._last_equity)
        return {
            "state": self.state.value,
            "manual_state": self._manual_state.value,
            "manual_reason": self._manual_reason,
            "breakers": {n: b.snapshot() for n, b in self._breakers.items()},
            "starting_equity": self._starting_equity,
            "peak_equity": self._peak_equity,
            "last_equity": self._last_equity,
            "drawdown": drawdown,
            "size_scale": 1.0 if drawdown is None else self.size_scale(drawdown),
            "day": self._day,
            "day_start_equity": self._day_start_equity,
            "orders_in_rate_window": len(self._approvals),
            "protections": {s: dict(p) for s, p in sorted(self._protections.items())},
            "strategies": {s: st.to_dict() for s, st in self.ledger.all_stats().items()},
            "pending_events": len(self._events),
            "dropped_events": self._dropped_events,
            "config": self._config.to_dict(),
        }

    def drain_events(self) -> list[RiskEvent]:
        """Every event since the last drain, oldest first; the queue is emptied."""
        events = list(self._events)
        self._events.clear()
        return events

    # ------------------------------------------------------------------------------------------
    # Pre-trade
    # ------------------------------------------------------------------------------------------

    def evaluate(
        self,
        intent: OrderIntent,
        portfolio: Portfolio,
        market: MarketState,
        now_ms: int,
        open_orders: Iterable[Order] = (),
    ) -> RiskDecision:
        """Approve, resize or deny ``intent``. Never raises for a risk reason."""
        if not isinstance(intent, OrderIntent):
            raise InvalidArgument(f"intent must be an OrderIntent, got {type(intent).__name__}")
        if not isinstance(portfolio, Portfolio):
            raise InvalidArgument(f"portfolio must be a Portfolio, got {type(portfolio).__name__}")
        if not isinstance(market, MarketState):
            raise InvalidArgument(f"market must be a MarketState, got {type(market).__name__}")
        _require_time(now_ms)
        self._tick(now_ms)
        working = [o for o in open_orders if o.is_open]
        base: dict[str, Any] = {
            "client_order_id": intent.client_order_id,
            "strategy": intent.strategy,
            "symbol": intent.symbol,
            "side": intent.side.value,
            "order_type": intent.order_type.value,
            "reduce_only": intent.reduce_only,
            "requested_quantity": intent.quantity,
            "state": self.state.value,
        }
        try:
            outcome = self._decide(intent, portfolio, market, now_ms, working, base)
        except _Deny as deny:
            outcome = _Outcome(False, 0.0, deny.code, deny.message, {**base, **deny.details})
        if outcome.approved:
            self._record_approval(
                intent, outcome.quantity, now_ms, outcome.details.get("protection")
            )
            outcome_name = (
                DecisionOutcome.RESIZED
                if outcome.code is RiskReason.RESIZED
                else DecisionOutcome.APPROVED
            )
        else:
            outcome_name = DecisionOutcome.DENIED
        outcome.details["approved_quantity"] = outcome.quantity
        event = self._emit(
            now_ms,
            EventKind.DECISION,
            outcome_name.value,
            outcome.code,
            outcome.message,
            outcome.details,
        )
        return RiskDecision(
            approved=outcome.approved,
            intent=intent,
            quantity=outcome.quantity,
            reason_code=outcome.code,
            reason=outcome.message,
            event=event,
            client_order_id=intent.client_order_id,
        )

    def _decide(
        self,
        intent: OrderIntent,
        portfolio: Portfolio,
        market: MarketState,
        now_ms: int,
        working: list[Order],
        details: dict[str, Any],
    ) -> _Outcome:
        cid = intent.client_order_id
        symbol = intent.symbol
        cfg = self._config
        issued = self._issued.get(cid)
        engine_issued = (
            issued is not None and intent.reduce_only and issued == (symbol, intent.side.value)
        )
        details["engine_issued"] = engine_issued

        # 1. duplicate client order id
        if cid in self._orders or any(o.client_order_id == cid for o in working):
            raise _Deny(
                RiskReason.DUPLICATE_CLIENT_ORDER_ID,
                f"client_order_id {cid!r} was already used; expected a new, unique id",
            )
        # 2. the order itself
        self._check_order_fields(intent)
        # 3. trading state
        state = self.state
        if state is TradingState.HALTED and not engine_issued:
            raise _Deny(
                RiskReason.HALTED,
                f"trading is HALTED ({self._state_causes()}); only cancels are accepted until "
                "the halt is reset",
            )
        # 4. last price, band, tick
        position = portfolio.position(symbol)
        pos = 0.0 if position.is_flat else position.quantity
        last = market.price(symbol)
        if last is None:
            if not engine_issued or position.is_flat:
                raise _Deny(
                    RiskReason.NO_PRICE,
                    f"no last price for {symbol}; expected a finite price > 0 in the market "
                    "state before trading it",
                )
            last = position.average_price  # the engine's own exit: value at cost
        details["last_price"] = last
        ref = last
        if intent.order_type is OrderType.LIMIT:
            ref = float(intent.limit_price)  # type: ignore[arg-type]
        elif intent.order_type is OrderType.STOP:
            ref = float(intent.stop_price)  # type: ignore[arg-type]
        details["reference_price"] = ref
        if intent.order_type is not OrderType.MARKET:
            deviation = abs(ref - last) / last
            details["price_deviation"] = deviation
            if deviation > cfg.price_band_pct * (1 + _REL):
                name = "limit_price" if intent.order_type is OrderType.LIMIT else "stop_price"
                raise _Deny(
                    RiskReason.PRICE_BAND,
                    f"{name} {_num(ref)} is {deviation:.2%} from the last price {_num(last)}; "
                    f"expected within {cfg.price_band_pct:.2%} "
                    f"([{_num(last * (1 - cfg.price_band_pct))}, "
                    f"{_num(last * (1 + cfg.price_band_pct))}])",
                )
        instrument = market.instrument(symbol)
        if (
            instrument is not None
            and intent.order_type is not OrderType.MARKET
            and not instrument.is_on_price_tick(ref)
        ):
            raise _Deny(
                RiskReason.PRECISION,
                f"price {_num(ref)} is not on the {_num(instrument.price_increment)} tick of "
                f"{symbol}; expected a multiple of it such as "
                f"{_num(instrument.round_price(ref))}",
            )
        # 5. order rate
        if not engine_issued:
            self._prune_rate(now_ms)
            if len(self._approvals) >= cfg.max_orders_per_minute:
                raise _Deny(
                    RiskReason.ORDER_RATE,
                    f"{len(self._approvals)} orders approved in the last 60 s; expected fewer "
                    f"than max_orders_per_minute={cfg.max_orders_per_minute}",
                )
        # 6. which path: reducing or opening
        pend_buy, pend_sell = _pending(working, symbol)
        opposing = pend_sell if pos > 0 else pend_buy
        reducible = max(0.0, abs(pos) - opposing) if pos * intent.side.sign < 0 else 0.0
        if reducible <= QTY_EPSILON:
            reducible = 0.0
        details.update(position=pos, reducible=reducible)
        requested = intent.quantity
        fits = requested is not None and requested <= reducible * (1 + _REL) and reducible > 0
        if engine_issued or (
            intent.reduce_only and (fits or (requested is None and reducible > 0))
        ):
            if reducible <= 0:
                raise _Deny(
                    RiskReason.NOTHING_TO_REDUCE,
                    self._nothing_to_reduce(intent, pos, opposing),
                )
            return self._reduce(
                intent,
                reducible if requested is None else requested,
                reducible,
                ref,
                instrument,
                details,
            )
        if intent.reduce_only:
            own = self.ledger.position(intent.strategy, symbol)
            if state is TradingState.ACTIVE and own * intent.side.sign < -QTY_EPSILON:
                # Closing its own attributed position where other strategies hold the other
                # side: an ordinary order with caps, at most the strategy's own position.
                details["closes_attributed_position"] = own
                return self._open(
                    intent,
                    min(requested, abs(own)) if requested else abs(own),
                    pos,
                    pend_buy,
                    pend_sell,
                    last,
                    ref,
                    instrument,
                    portfolio,
                    market,
                    working,
                    details,
                )
            if reducible > 0:
                return self._reduce(intent, reducible, reducible, ref, instrument, details)
            raise _Deny(
                RiskReason.NOTHING_TO_REDUCE, self._nothing_to_reduce(intent, pos, opposing)
            )
        if fits:
            return self._reduce(intent, requested, reducible, ref, instrument, details)
        if state is TradingState.REDUCING:
            if reducible > 0 and requested is not None:
                return self._reduce(intent, reducible, reducible, ref, instrument, details)
            after = pos + intent.side.sign * (requested or 0.0)
            raise _Deny(
                RiskReason.REDUCING_ONLY,
                f"trading is REDUCING ({self._state_causes()}); only orders that reduce "
                f"|position| are accepted, and {intent.side.value} "
                f"{_num(requested) if requested else '(to be sized)'} {symbol} would take the "
                f"position from {_num(pos)} to {_num(after) if requested else 'a larger size'}",
            )
        return self._open(
            intent,
            requested,
            pos,
            pend_buy,
            pend_sell,
            last,
            ref,
            instrument,
            portfolio,
            market,
            working,
            details,
        )

    @staticmethod
    def _check_order_fields(intent: OrderIntent) -> None:
        q = intent.quantity
        if q is not None and (not _is_finite(q) or q <= 0):
            raise _Deny(
                RiskReason.INVALID_ORDER,
                f"quantity {q!r} is invalid; expected a finite number > 0 or None to size it",
            )
        for name in ("limit_price", "stop_price", "stop_loss", "take_profit"):
            value = getattr(intent, name)
            if value is not None and (not _is_finite(value) or value <= 0):
                raise _Deny(
                    RiskReason.INVALID_ORDER,
                    f"{name} {value!r} is invalid; expected a finite price > 0",
                )
        if intent.order_type is OrderType.LIMIT and intent.limit_price is None:
            raise _Deny(RiskReason.INVALID_ORDER, "a LIMIT order needs a limit_price")
        if intent.order_type is OrderType.STOP and intent.stop_price is None:
            raise _Deny(RiskReason.INVALID_ORDER, "a STOP order needs a stop_price")

    @staticmethod
    def _nothing_to_reduce(intent: OrderIntent, pos: float, opposing: float) -> str:
        return (
            f"reduce-only {intent.side.value} {intent.symbol} has nothing to reduce: net "
            f"position {_num(pos)}, open orders already working against it {_num(opposing)}; "
            f"expected a {'short' if intent.side is Side.BUY else 'long'} position left to "
            "reduce"
        )

    def _reduce(
        self,
        intent: OrderIntent,
        quantity: float,
        reducible: float,
        ref: float,
        instrument: Instrument | None,
        details: dict[str, Any],
    ) -> _Outcome:
        details["sizing_method"] = SizingMethod.REDUCE.value
        capped = quantity > reducible * (1 + _REL)
        q = min(quantity, reducible)
        q = self._finish_quantity(
            q, intent, ref, instrument, sized=False, cap_code=None, details=details
        )
        requested = intent.quantity
        if requested is not None and q < requested * (1 - _REL):
            why = "capped at the reducible position" if capped else "rounded down to the lot"
            return _Outcome(
                True,
                q,
                RiskReason.RESIZED,
                f"reducing {intent.side.value} {intent.symbol} resized from {_num(requested)} "
                f"to {_num(q)}: {why} ({_num(reducible)} reducible)",
                details,
            )
        return _Outcome(
            True,
            q,
            RiskReason.OK,
            f"approved reducing {intent.side.value} {_num(q)} {intent.symbol}",
            details,
        )

    def _open(
        self,
        intent: OrderIntent,
        requested: float | None,
        pos: float,
        pend_buy: float,
        pend_sell: float,
        last: float,
        ref: float,
        instrument: Instrument | None,
        portfolio: Portfolio,
        market: MarketState,
        working: list[Order],
        details: dict[str, Any],
    ) -> _Outcome:
        cfg = self._config
        symbol = intent.symbol
        sign = intent.side.sign
        equity = portfolio.equity(market.prices)
        drawdown = self._drawdown_of(equity)
        scale = self.size_scale(drawdown)
        details.update(equity=equity, drawdown=drawdown, size_scale=scale)
        if equity <= 0:
            raise _Deny(
                RiskReason.INSUFFICIENT_EQUITY,
                f"equity is {_num(equity)}; expected equity > 0 to open or add to a position",
            )
        for name, below in (("stop_loss", sign > 0), ("take_profit", sign < 0)):
            level = getattr(intent, name)
            if level is not None and (level >= ref if below else level <= ref):
                raise _Deny(
                    RiskReason.INVALID_ORDER,
                    f"{name} {_num(level)} is on the wrong side of the price {_num(ref)} for a "
                    f"{intent.side.value}; expected it {'below' if below else 'above'} the price",
                )
        sizing: SizingResult | None = None
        if requested is None:
            sizing = size_order(
                equity=equity,
                price=ref,
                config=cfg,
                stats=self.ledger.stats(intent.strategy),
                atr=market.atr_of(symbol),
                stop_loss=intent.stop_loss,
                scale=scale,
            )
            details.update(sizing.details())
            if sizing.denial is not None:
                raise _Deny(sizing.denial, sizing.message)
            quantity = sizing.quantity
        else:
            details["sizing_method"] = SizingMethod.EXPLICIT.value
            quantity = requested
        # Caps: order notional, per-symbol position and gross exposure, with open orders.
        pend_same = pend_buy if sign > 0 else pend_sell
        exposure = sign * pos + pend_same  # what this symbol holds (or will) in the order's way
        gross_limit = cfg.max_gross_exposure_pct * equity
        gross_others = _gross_others(portfolio, market, working, symbol)
        caps = [
            (
                cfg.max_order_notional / ref,
                RiskReason.MAX_NOTIONAL,
                f"max_order_notional {_num(cfg.max_order_notional)}",
            ),
            (
                cfg.max_position_pct * scale * equity / last - exposure,
                RiskReason.POSITION_LIMIT,
                f"max_position_pct {cfg.max_position_pct:.2%}"
                + (f" x drawdown scale {scale}" if scale != 1.0 else "")
                + f" of equity {_num(equity)} with {_num(exposure)} already held or working",
            ),
            (
                (gross_limit - gross_others) / last - exposure,
                RiskReason.GROSS_EXPOSURE,
                f"gross exposure {cfg.max_gross_exposure_pct:.2%} of equity "
                f"({_num(gross_limit)}) with {_num(gross_others)} in other symbols and "
                f"{_num(exposure * last)} in {symbol}",
            ),
        ]
        details.update(gross_exposure_others=gross_others, gross_limit=gross_limit)
        binding = None
        for limit, code, text in caps:
            if quantity > limit * (1 + _REL) and (binding is None or limit < binding[0]):
                binding = (max(0.0, limit), code, text)
        if binding is not None:
            quantity = binding[0]
            details["capped_by"] = binding[1].value
        q = self._finish_quantity(
            quantity,
            intent,
            ref,
            instrument,
            sized=sizing is not None,
            cap_code=None if binding is None else (binding[1], binding[2]),
            details=details,
        )
        details["protection"] = self._pending_protection(intent, sizing, market.atr_of(symbol))
        asked = intent.quantity
        if asked is not None and q < asked * (1 - _REL):
            if binding is not None:
                why = f"capped by {binding[2]}"
            elif requested is not None and requested < asked:
                why = "capped at the strategy's attributed position"
            else:
                why = "rounded down to the lot"
            return _Outcome(
                True,
                q,
                RiskReason.RESIZED,
                f"{intent.side.value} {symbol} resized from {_num(intent.quantity)} to "
                f"{_num(q)}: {why}",
                details,
            )
        if sizing is not None:
            text = f"sized {intent.side.value} {_num(q)} {symbol} by {sizing.method.value}"
            if sizing.method is SizingMethod.KELLY:
                text += (
                    f" ({cfg.kelly_fraction:g} x Kelly edge {sizing.edge:.4f} of equity "
                    f"{_num(equity)})"
                )
            else:
                text += (
                    f" ({cfg.fixed_fractional_risk_pct:.2%} of equity {_num(equity)} at risk "
                    f"over a stop distance of {_num(sizing.stop_distance)})"
                )
            if sizing.capped_by or binding is not None:
                limits = [*sizing.capped_by, *([binding[1].value] if binding else [])]
                text += f" (capped by {', '.join(limits)})"
            if scale != 1.0:
                text += f", scaled by {scale} in drawdown {drawdown:.2%}"
        else:
            text = f"approved {intent.side.value} {_num(q)} {symbol}"
        return _Outcome(True, q, RiskReason.OK, text, details)

    def _finish_quantity(
        self,
        quantity: float,
        intent: OrderIntent,
        ref: float,
        instrument: Instrument | None,
        *,
        sized: bool,
        cap_code: tuple[RiskReason, str] | None,
        details: dict[str, Any],
    ) -> float:
        """Round down to the lot and check the minimums; denies when nothing is left."""
        q = quantity
        if (
            instrument is not None
            and instrument.quantity_increment > 0
            and not (
                intent.quantity is not None
                and q == intent.quantity
                and instrument.is_on_quantity_lot(q)
            )
        ):
            q = round(instrument.round_quantity(q), 12)
        if q <= QTY_EPSILON:
            step = instrument.quantity_increment if instrument is not None else 0.0
            if cap_code is not None:
                raise _Deny(
                    cap_code[0],
                    f"{intent.side.value} {intent.symbol}: no quantity left under "
                    f"{cap_code[1]}; expected headroom for at least one lot",
                )
            if sized:
                raise _Deny(
                    RiskReason.ZERO_QUANTITY,
                    f"{intent.side.value} {intent.symbol} sized to {_num(quantity)}, which is "
                    f"nothing at the lot size {_num(step)}; expected at least one lot",
                )
            raise _Deny(
                RiskReason.PRECISION,
                f"quantity {_num(quantity)} of {intent.symbol} rounds down to 0 at the lot "
                f"size {_num(step)}; expected at least one lot",
            )
        if instrument is not None:
            if q < instrument.min_quantity * (1 - _REL):
                raise _Deny(
                    RiskReason.MIN_QUANTITY,
                    f"quantity {_num(q)} of {intent.symbol} is below the minimum quantity "
                    f"{_num(instrument.min_quantity)}; expected at least that",
                )
            if q * ref < instrument.min_notional * (1 - _REL):
                raise _Deny(
                    RiskReason.MIN_NOTIONAL,
                    f"notional {_num(q * ref)} ({_num(q)} x {_num(ref)}) of {intent.symbol} is "
                    f"below the minimum notional {_num(instrument.min_notional)}; expected at "
                    "least that",
                )
        details["notional"] = q * ref
        return q

    def _pending_protection(
        self, intent: OrderIntent, sizing: SizingResult | None, atr: float | None
    ) -> dict[str, Any] | None:
        """The SL/TP levels (or distances) a fill of this order will register."""
        stop_distance = None
        tp_distance = None
        if intent.stop_loss is None and sizing is not None and sizing.stop_from_atr:
            stop_distance = sizing.stop_distance
        if (
            intent.take_profit is None
            and self._config.take_profit_atr_multiple is not None
            and atr is not None
            and (sizing is not None and sizing.stop_from_atr)
        ):
            tp_distance = self._config.take_profit_atr_multiple * atr
        if (
            intent.stop_loss is None
            and intent.take_profit is None
            and stop_distance is None
            and tp_distance is None
        ):
            return None
        return {
            "stop_loss": intent.stop_loss,
            "take_profit": intent.take_profit,
            "stop_distance": stop_distance,
            "take_profit_distance": tp_distance,
        }

    def _state_causes(self) -> str:
        causes = [f"{name}: {b.reason}" for name, b in self._breakers.items() if b.tripped]
        if self._manual_state is not TradingState.ACTIVE:
            causes.append(f"manual: {self._manual_reason or self._manual_state.value}")
        return "; ".join(causes) or "no cause recorded"

    def check_cancel(self, client_order_id: str, now_ms: int) -> RiskDecision:
        """Cancels reduce risk: always approved, in every state; the event records it."""
        if not isinstance(client_order_id, str) or not client_order_id.strip():
            raise InvalidArgument(
                f"client_order_id must be a non-empty string, got {client_order_id!r}"
            )
        _require_time(now_ms)
        self._tick(now_ms)
        message = f"cancel of {client_order_id!r} approved (cancels are always allowed)"
        event = self._emit(
            now_ms,
            EventKind.DECISION,
            DecisionOutcome.APPROVED.value,
            RiskReason.CANCEL,
            message,
            {"client_order_id": client_order_id, "action": "cancel", "state": self.state.value},
        )
        return RiskDecision(True, None, 0.0, RiskReason.CANCEL, message, event, client_order_id)

    # ------------------------------------------------------------------------------------------
    # Post-trade
    # ------------------------------------------------------------------------------------------

    def on_fill(self, fill: Fill, portfolio_after: Portfolio, now_ms: int) -> list[RiskEvent]:
        """Check and book one fill: ledger, closed-trade stats, the consecutive-loss breaker and
        stop-loss / take-profit registration. ``portfolio_after`` already includes the fill."""
        if not isinstance(fill, Fill):
            raise InvalidArgument(f"fill must be a Fill, got {type(fill).__name__}")
        if not isinstance(portfolio_after, Portfolio):
            raise InvalidArgument(
                f"portfolio_after must be a Portfolio, got {type(portfolio_after).__name__}"
            )
        _require_time(now_ms)
        events: list[RiskEvent] = []
        events += self._tick(now_ms)
        record = self._orders.get(fill.client_order_id)
        flags: list[tuple[RiskReason, str]] = []
        if record is None:
            flags.append(
                (
                    RiskReason.UNKNOWN_ORDER,
                    f"fill {fill.fill_id!r} is for client order {fill.client_order_id!r}, which "
                    "this engine never approved",
                )
            )
            known = {r["symbol"] for r in self._orders.values()} | {
                sym for (_, sym) in self.ledger.positions()
            }
            if fill.symbol not in known:
                flags.append(
                    (
                        RiskReason.UNKNOWN_SYMBOL,
                        f"fill {fill.fill_id!r} is for {fill.symbol}, a symbol with no approved "
                        "order and no position",
                    )
                )
        else:
            if record["symbol"] != fill.symbol:
                flags.append(
                    (
                        RiskReason.UNKNOWN_SYMBOL,
                        f"fill {fill.fill_id!r} is for {fill.symbol} but order "
                        f"{fill.client_order_id!r} was approved for {record['symbol']}",
                    )
                )
            if record["side"] != fill.side.value:
                flags.append(
                    (
                        RiskReason.SIDE_MISMATCH,
                        f"fill {fill.fill_id!r} is a {fill.side.value} but order "
                        f"{fill.client_order_id!r} was approved as a {record['side']}",
                    )
                )
            record["filled"] += fill.quantity
            if record["filled"] > record["quantity"] * (1 + _REL) + QTY_EPSILON:
                flags.append(
                    (
                        RiskReason.OVERFILL,
                        f"order {fill.client_order_id!r} has now filled {_num(record['filled'])}, "
                        f"beyond the {_num(record['quantity'])} approved",
                    )
                )
        details = {
            "fill_id": fill.fill_id,
            "client_order_id": fill.client_order_id,
            "strategy": fill.strategy,
            "symbol": fill.symbol,
            "side": fill.side.value,
            "quantity": fill.quantity,
            "price": fill.price,
            "fee": fill.fee,
            "flags": [code.value for code, _ in flags],
            "position_after": portfolio_after.position(fill.symbol).quantity,
            "realized_pnl_after": portfolio_after.realized_pnl,
        }
        if flags:
            events.append(
                self._emit(
                    now_ms,
                    EventKind.FILL_CHECK,
                    "FLAGGED",
                    flags[0][0],
                    "; ".join(text for _, text in flags),
                    details,
                )
            )
        else:
            events.append(
                self._emit(
                    now_ms,
                    EventKind.FILL_CHECK,
                    "OK",
                    RiskReason.OK,
                    f"fill {fill.fill_id!r} matches order {fill.client_order_id!r}",
                    details,
                )
            )
        allocate = fill.strategy == ENGINE_STRATEGY or bool(record and record.get("engine"))
        for trade in self.ledger.on_fill(fill, allocate=allocate):
            events.append(
                self._emit(
                    now_ms,
                    EventKind.TRADE_CLOSED,
                    "WIN" if trade.is_win else ("LOSS" if trade.is_loss else "FLAT"),
                    RiskReason.TRADE_CLOSED,
                    f"{trade.strategy} closed a {trade.direction.name} {trade.symbol} trade of "
                    f"{_num(trade.quantity)}: pnl {_num(trade.pnl)}",
                    trade.to_dict(),
                )
            )
            breaker = self._breakers[ConsecutiveLossBreaker.name]
            assert isinstance(breaker, ConsecutiveLossBreaker)
            limit = self._config.max_consecutive_losses
            if breaker.record(trade.pnl, limit):
                reason = (
                    f"{limit} consecutive losing trades (last: {trade.strategy} "
                    f"{trade.symbol} pnl {_num(trade.pnl)})"
                )
                breaker.trip(now_ms, reason, self._config.consecutive_loss_cooldown_ms)
                events.append(self._breaker_event(now_ms, breaker, tripped=True))
        self._update_protection(fill, record, portfolio_after)
        events += self._refresh_state(now_ms)
        return events

    def _update_protection(
        self, fill: Fill, record: dict[str, Any] | None, portfolio: Portfolio
    ) -> None:
        symbol = fill.symbol
        position = portfolio.position(symbol)
        if position.is_flat:
            self._protections.pop(symbol, None)
            return
        direction = 1 if position.quantity > 0 else -1
        current = self._protections.get(symbol)
        if current is not None and current["direction"] != direction:
            del self._protections[symbol]  # flipped: the old levels protect nothing
        pending = None if record is None else record.get("protection")
        if pending is None or fill.side.sign != direction:
            return
        average = position.average_price
        stop = pending["stop_loss"]
        if stop is None and pending["stop_distance"] is not None:
            stop = average - direction * pending["stop_distance"]
        target = pending["take_profit"]
        if target is None and pending["take_profit_distance"] is not None:
            target = average + direction * pending["take_profit_distance"]
        if stop is not None and stop <= 0:
            stop = None
        if target is not None and target <= 0:
            target = None
        if stop is None and target is None:
            return
        self._protections[symbol] = {
            "direction": direction,
            "stop_loss": stop,
            "take_profit": target,
            "triggered": False,
            "source": fill.client_order_id,
        }

    # ------------------------------------------------------------------------------------------
    # In-trade
    # ------------------------------------------------------------------------------------------

    def on_mark(self, portfolio: Portfolio, market: MarketState, now_ms: int) -> list[OrderIntent]:
        """Mark to market: day roll, peak equity, daily-loss and drawdown breakers, cool-downs,
        stop-loss / take-profit. Returns the exit and flattening intents to route (through
        :meth:`evaluate`, which lets them through even when HALTED)."""
        if not isinstance(portfolio, Portfolio):
            raise InvalidArgument(f"portfolio must be a Portfolio, got {type(portfolio).__name__}")
        if not isinstance(market, MarketState):
            raise InvalidArgument(f"market must be a MarketState, got {type(market).__name__}")
        _require_time(now_ms)
        self._tick(now_ms)
        cfg = self._config
        equity = portfolio.equity(market.prices)
        self._last_equity = equity
        day = now_ms // DAY_MS
        if self._day is None:
            self._day = day
        elif day > self._day:
            previous = self._day_start_equity
            self._day = day
            self._day_start_equity = equity
            self._emit(
                now_ms,
                EventKind.DAY_STARTED,
                "OK",
                RiskReason.OK,
                f"UTC day {day} started: daily-loss baseline {_num(equity)} (was {_num(previous)})",
                {"day": day, "day_start_equity": equity, "previous_day_start_equity": previous},
            )
        self._peak_equity = max(self._peak_equity, equity)
        drawdown = self._drawdown_of(equity)

        daily = self._breakers[DailyLossBreaker.name]
        if not daily.tripped and DailyLossBreaker.breached(
            self._day_start_equity, equity, cfg.daily_loss_pct
        ):
            loss = self._day_start_equity - equity
            daily.trip(
                now_ms,
                f"daily loss {_num(loss)} ({loss / self._day_start_equity:.2%}) reached "
                f"{cfg.daily_loss_pct:.2%} of the day's starting equity "
                f"{_num(self._day_start_equity)}",
                cfg.daily_loss_cooldown_ms,
            )
            self._breaker_event(now_ms, daily, tripped=True, extra={"equity": equity, "loss": loss})

        intents: list[OrderIntent] = []
        dd = self._breakers[DrawdownBreaker.name]
        assert isinstance(dd, DrawdownBreaker)
        change = dd.update(now_ms, drawdown, cfg.drawdown_soft_pct, cfg.drawdown_hard_pct)
        extra = {"equity": equity, "peak_equity": self._peak_equity, "drawdown": drawdown}
        if change in (DrawdownBreaker.SOFT, DrawdownBreaker.HARD):
            self._breaker_event(now_ms, dd, tripped=True, extra=extra)
        elif change == "RECOVERED":
            self._emit(
                now_ms,
                EventKind.BREAKER_RESET,
                "RESET",
                RiskReason.RECOVERED,
                f"drawdown {drawdown:.2%} recovered below the soft limit "
                f"{cfg.drawdown_soft_pct:.2%}",
                {"breaker": dd.name, **extra},
            )
        if change == DrawdownBreaker.HARD:
            intents += self.flatten_intents(portfolio, now_ms, reason=dd.reason)

        flattened = {i.symbol for i in intents}
        for symbol in sorted(self._protections):
            intent = self._check_protection(symbol, portfolio, market, now_ms, flattened)
            if intent is not None:
                intents.append(intent)
        self._refresh_state(now_ms)
        return intents

    def _check_protection(
        self,
        symbol: str,
        portfolio: Portfolio,
        market: MarketState,
        now_ms: int,
        skip: set[str],
    ) -> OrderIntent | None:
        protection = self._protections[symbol]
        position = portfolio.position(symbol)
        if position.is_flat or (position.quantity > 0) != (protection["direction"] > 0):
            del self._protections[symbol]
            return None
        if protection["triggered"] or symbol in skip:
            return None
        price = market.price(symbol)
        if price is None:
            return None
        long = protection["direction"] > 0
        stop, target = protection["stop_loss"], protection["take_profit"]
        if stop is not None and (price <= stop if long else price >= stop):
            code, kind, level = RiskReason.STOP_LOSS, "sl", stop
        elif target is not None and (price >= target if long else price <= target):
            code, kind, level = RiskReason.TAKE_PROFIT, "tp", target
        else:
            return None
        protection["triggered"] = True
        intent = self._issue(f"risk-{kind}-{symbol}-{now_ms}", symbol, position.quantity, now_ms)
        self._emit(
            now_ms,
            EventKind.STOP_TRIGGERED,
            "TRIGGERED",
            code,
            f"{code.value.replace('_', ' ').lower()} {_num(level)} of {symbol} crossed at "
            f"{_num(price)}: exit {intent.side.value} {_num(intent.quantity)}",
            {
                "symbol": symbol,
                "price": price,
                "level": level,
                "position": position.quantity,
                "client_order_id": intent.client_order_id,
                "quantity": intent.quantity,
            },
        )
        return intent

    def flatten_intents(
        self, portfolio: Portfolio, now_ms: int, *, reason: str = "flatten requested"
    ) -> list[OrderIntent]:
        """Reduce-only MARKET intents closing every open position; :meth:`evaluate` approves
        them even when HALTED (they are remembered as the engine's own)."""
        _require_time(now_ms)
        intents = [
            self._issue(f"risk-flatten-{symbol}-{now_ms}", symbol, position.quantity, now_ms)
            for symbol, position in sorted(portfolio.open_positions().items())
        ]
        if intents:
            self._emit(
                now_ms,
                EventKind.STOP_TRIGGERED,
                "FLATTEN",
                RiskReason.DRAWDOWN_HARD if "drawdown" in reason else RiskReason.MANUAL,
                f"flattening {len(intents)} position(s): {reason}",
                {
                    "client_order_ids": [i.client_order_id for i in intents],
                    "positions": {i.symbol: portfolio.position(i.symbol).quantity for i in intents},
                },
            )
        return intents

    def _issue(self, base_id: str, symbol: str, quantity: float, now_ms: int) -> OrderIntent:
        cid, n = base_id, 1
        while cid in self._issued or cid in self._orders:
            n += 1
            cid = f"{base_id}-{n}"
        side = Side.SELL if quantity > 0 else Side.BUY
        self._issued[cid] = (symbol, side.value)
        while len(self._issued) > self._config.max_tracked_orders:
            self._issued.popitem(last=False)
        return OrderIntent(
            client_order_id=cid,
            symbol=symbol,
            side=side,
            quantity=abs(quantity),
            order_type=OrderType.MARKET,
            strategy=ENGINE_STRATEGY,
            time_ms=now_ms,
            reduce_only=True,
        )

    # ------------------------------------------------------------------------------------------
    # Breakers, states and limits
    # ------------------------------------------------------------------------------------------

    def record_venue_error(self, now_ms: int, reason: str) -> list[RiskEvent]:
        """Count one venue error or reject; a burst trips the HALT."""
        _require_time(now_ms)
        events = self._tick(now_ms)
        cfg = self._config
        breaker = self._breakers[ErrorBurstBreaker.name]
        assert isinstance(breaker, ErrorBurstBreaker)
        if breaker.record(now_ms, cfg.error_burst_window_ms, cfg.error_burst_threshold):
            breaker.trip(
                now_ms,
                f"{len(breaker.errors)} venue errors within {cfg.error_burst_window_ms} ms "
                f"(last: {reason})",
                cfg.error_burst_cooldown_ms,
            )
            events.append(
                self._breaker_event(now_ms, breaker, tripped=True, extra={"last_error": reason})
            )
            events += self._refresh_state(now_ms)
        return events

    def record_reconciliation(self, now_ms: int, report: Mapping[str, Any]) -> list[RiskEvent]:
        """Take in what execution found when it compared its journal with the venue.

        Every order adopted from the venue (``report["external"]``) gets a warning event. A
        balance that differs from what the journal's fills explain (``report["mismatches"]``),
        or an order the journal had open that the venue no longer knows
        (``report["vanished"]``), trips the reconciliation breaker: REDUCING until an admin
        resets it. One RECONCILIATION event sums the outcome up either way.
        """
        _require_time(now_ms)
        if not isinstance(report, Mapping):
            raise InvalidArgument(f"report must be a mapping, got {type(report).__name__}")
        events = self._tick(now_ms)
        venue = str(report.get("venue", "venue"))
        for order in report.get("external", ()):
            events.append(
                self._emit(
                    now_ms,
                    EventKind.RECONCILIATION,
                    "WARNING",
                    RiskReason.EXTERNAL_ORDER,
                    f"open order {order.get('venue_order_id')} on {venue} "
                    f"({order.get('side')} {_num(float(order.get('quantity', 0)))} "
                    f"{order.get('symbol')}) was not placed by Supreme; adopted as "
                    f"{order.get('client_order_id')!r} and tracked",
                    {"venue": venue, "order": dict(order)},
                )
            )
        mismatches = list(report.get("mismatches", ()))
        vanished = list(report.get("vanished", ()))
        problems = [
            f"{m.get('asset')}: venue {_num(float(m['venue']))}, journal expects "
            f"{_num(float(m['expected']))}"
            for m in mismatches
        ] + [f"order {cid!r} open in the journal is unknown to {venue}" for cid in vanished]
        summary = {
            k: report.get(k)
            for k in ("venue", "orders_checked", "orders_updated", "missed_fills", "never_sent")
            if k in report
        }
        if problems:
            text = "; ".join(problems)
            events.append(
                self._emit(
                    now_ms,
                    EventKind.RECONCILIATION,
                    "MISMATCH",
                    RiskReason.RECONCILIATION_MISMATCH,
                    f"{venue} does not match the journal: {text}",
                    {**summary, "mismatches": mismatches, "vanished": vanished},
                )
            )
            breaker = self._breakers[ReconciliationBreaker.name]
            if breaker.trip(now_ms, f"{venue} does not match the journal: {text}"):
                events.append(self._breaker_event(now_ms, breaker, tripped=True))
                events += self._refresh_state(now_ms)
        else:
            events.append(
                self._emit(
                    now_ms,
                    EventKind.RECONCILIATION,
                    "OK",
                    RiskReason.RECONCILED,
                    f"{venue} matches the journal "
                    f"({len(report.get('external', ()))} external order(s) adopted)",
                    summary,
                )
            )
        return events

    def set_trading_state(self, state: TradingState, reason: str, now_ms: int) -> None:
        """Set the manual state. Breakers still apply: the effective state is the most
        restrictive of the two."""
        if not isinstance(state, TradingState):
            raise InvalidArgument(f"state must be a TradingState, got {state!r}")
        _require_time(now_ms)
        self._tick(now_ms)
        previous = self._manual_state
        self._manual_state = state
        self._manual_reason = str(reason)
        self._emit(
            now_ms,
            EventKind.STATE_CHANGED,
            state.value,
            RiskReason.MANUAL,
            f"manual trading state {previous.value} -> {state.value}: {reason}",
            {"scope": "manual", "from": previous.value, "to": state.value},
        )
        self._refresh_state(now_ms)

    def reset_breakers(self, now_ms: int, names: Iterable[str] | None = None) -> list[str]:
        """Clear tripped breakers (all when ``names`` is None); returns the names cleared.

        Resetting ``daily_loss`` re-bases the day's baseline to the last marked equity;
        resetting a HARD ``drawdown`` re-bases peak equity to it.
        """
        _require_time(now_ms)
        self._tick(now_ms)
        if names is None:
            chosen = list(self._breakers)
        else:
            chosen = [names] if isinstance(names, str) else list(names)
            unknown = sorted(set(chosen) - set(self._breakers))
            if unknown:
                raise InvalidArgument(
                    f"unknown breaker(s) {unknown}; expected some of {sorted(self._breakers)}"
                )
        cleared = [n for n in chosen if self._clear(n, now_ms, RiskReason.MANUAL) is not None]
        self._refresh_state(now_ms)
        return cleared

    def _clear(self, name: str, now_ms: int, code: RiskReason) -> RiskEvent | None:
        breaker = self._breakers[name]
        hard = isinstance(breaker, DrawdownBreaker) and breaker.level == DrawdownBreaker.HARD
        reason = breaker.reason
        if not breaker.reset():
            return None
        extra: dict[str, Any] = {"breaker": name, "was": reason}
        if name == DailyLossBreaker.name and self._last_equity is not None:
            self._day_start_equity = self._last_equity
            extra["day_start_equity"] = self._day_start_equity
        if hard and self._last_equity is not None:
            self._peak_equity = self._last_equity
            extra["peak_equity"] = self._peak_equity
        how = "cool-down ended" if code is RiskReason.COOLDOWN_EXPIRED else "explicit reset"
        return self._emit(
            now_ms,
            EventKind.BREAKER_RESET,
            "RESET",
            code,
            f"breaker {name} cleared ({how}); it was: {reason}",
            extra,
        )

    def update_limits(self, now_ms: int, **changes: Any) -> RiskConfig:
        """Apply new limits at once (validated; unknown names refused); returns the config."""
        _require_time(now_ms)
        new = self._config.with_updates(**changes)
        old = self._config
        diff = {
            k: {"old": getattr(old, k), "new": getattr(new, k)}
            for k in new.field_names()
            if getattr(old, k) != getattr(new, k)
        }
        self._config = new
        if new.kelly_window != old.kelly_window:
            self.ledger.set_window(new.kelly_window)
        if new.trade_history_limit != old.trade_history_limit:
            self.ledger.set_history_limit(new.trade_history_limit)
        if new.max_events != old.max_events:
            self._events = deque(self._events, maxlen=new.max_events)
        self._emit(
            now_ms,
            EventKind.LIMITS_CHANGED,
            "CHANGED",
            RiskReason.LIMITS_CHANGED,
            "limits changed: "
            + (
                ", ".join(
                    f"{k} {_num(v['old']) if isinstance(v['old'], float) else v['old']} -> "
                    f"{_num(v['new']) if isinstance(v['new'], float) else v['new']}"
                    for k, v in diff.items()
                )
                or "nothing"
            ),
            {"changes": diff},
        )
        self._tick(now_ms)
        return new

    # ------------------------------------------------------------------------------------------
    # Internals
    # ------------------------------------------------------------------------------------------

    def _tick(self, now_ms: int) -> list[RiskEvent]:
        """Expire cool-downs and prune the rate window."""
        events: list[RiskEvent] = []
        for name, breaker in self._breakers.items():
            if breaker.cooldown_over(now_ms):
                event = self._clear(name, now_ms, RiskReason.COOLDOWN_EXPIRED)
                if event is not None:
                    events.append(event)
        self._prune_rate(now_ms)
        return events + self._refresh_state(now_ms)

    def _prune_rate(self, now_ms: int) -> None:
        while self._approvals and self._approvals[0] <= now_ms - RATE_WINDOW_MS:
            self._approvals.popleft()

    def _refresh_state(self, now_ms: int) -> list[RiskEvent]:
        state = self.state
        if state is self._effective:
            return []
        previous, self._effective = self._effective, state
        causes = {n: b.state.value for n, b in self._breakers.items() if b.tripped}
        return [
            self._emit(
                now_ms,
                EventKind.STATE_CHANGED,
                state.value,
                RiskReason.OK
                if state is TradingState.ACTIVE
                else RiskReason(self._cause_code(state).value),
                f"trading state {previous.value} -> {state.value} ({self._state_causes()})",
                {
                    "scope": "effective",
                    "from": previous.value,
                    "to": state.value,
                    "manual_state": self._manual_state.value,
                    "breakers": causes,
                },
            )
        ]

    def _cause_code(self, state: TradingState) -> RiskReason:
        for breaker in self._breakers.values():
            if breaker.tripped and breaker.state is state:
                return _breaker_code(breaker)
        return RiskReason.MANUAL

    def _breaker_event(
        self, now_ms: int, breaker: Breaker, *, tripped: bool, extra: dict[str, Any] | None = None
    ) -> RiskEvent:
        return self._emit(
            now_ms,
            EventKind.BREAKER_TRIPPED if tripped else EventKind.BREAKER_RESET,
            "TRIPPED" if tripped else "RESET",
            _breaker_code(breaker),
            f"breaker {breaker.name} tripped -> {breaker.state.value}: {breaker.reason}",
            {
                "breaker": breaker.name,
                "state": breaker.state.value,
                "until_ms": breaker.until_ms,
                **(extra or {}),
            },
        )

    def _emit(
        self,
        now_ms: int,
        kind: EventKind,
        outcome: str,
        code: RiskReason,
        message: str,
        details: Mapping[str, Any],
    ) -> RiskEvent:
        event = RiskEvent(now_ms, kind, outcome, code, message, details)
        if len(self._events) == self._events.maxlen:
            self._dropped_events += 1
        self._events.append(event)
        return event

    def _record_approval(
        self, intent: OrderIntent, quantity: float, now_ms: int, protection: dict[str, Any] | None
    ) -> None:
        self._approvals.append(now_ms)
        self._orders[intent.client_order_id] = {
            "symbol": intent.symbol,
            "side": intent.side.value,
            "strategy": intent.strategy,
            "quantity": quantity,
            "filled": 0.0,
            "engine": intent.client_order_id in self._issued,
            "protection": protection,
            "time_ms": now_ms,
        }
        self._issued.pop(intent.client_order_id, None)
        while len(self._orders) > self._config.max_tracked_orders:
            self._orders.popitem(last=False)

    # ------------------------------------------------------------------------------------------
    # Persistence
    # ------------------------------------------------------------------------------------------

    def snapshot(self) -> dict[str, Any]:
        """The whole state as JSON-safe data (pending events are not included: drain first)."""
        return {
            "version": SNAPSHOT_VERSION,
            "config": self._config.to_dict(),
            "starting_equity": self._starting_equity,
            "manual_state": self._manual_state.value,
            "manual_reason": self._manual_reason,
            "effective_state": self._effective.value,
            "peak_equity": self._peak_equity,
            "last_equity": self._last_equity,
            "day": self._day,
            "day_start_equity": self._day_start_equity,
            "breakers": {n: b.snapshot() for n, b in self._breakers.items()},
            "ledger": self.ledger.snapshot(),
            "orders": [[cid, dict(r)] for cid, r in self._orders.items()],
            "issued": [[cid, list(v)] for cid, v in self._issued.items()],
            "approvals": list(self._approvals),
            "protections": {s: dict(p) for s, p in self._protections.items()},
            "dropped_events": self._dropped_events,
        }

    @classmethod
    def restore(cls, data: Mapping[str, Any]) -> RiskEngine:
        """An engine in the state :meth:`snapshot` captured."""
        if not isinstance(data, Mapping) or data.get("version") != SNAPSHOT_VERSION:
            raise InvalidArgument(
                f"not a risk engine snapshot of version {SNAPSHOT_VERSION}: "
                f"{data.get('version') if isinstance(data, Mapping) else type(data).__name__}"
            )
        engine = cls(
            RiskConfig.from_mapping(data["config"]), starting_equity=float(data["starting_equity"])
        )
        engine._manual_state = TradingState(data["manual_state"])
        engine._manual_reason = str(data.get("manual_reason", ""))
        engine._effective = TradingState(data["effective_state"])
        engine._peak_equity = float(data["peak_equity"])
        last = data.get("last_equity")
        engine._last_equity = None if last is None else float(last)
        engine._day = data.get("day")
        engine._day_start_equity = float(data["day_start_equity"])
        for name, snap in data["breakers"].items():
            engine._breakers[name].restore(snap)
        engine.ledger = TradeLedger.restore(data["ledger"])
        engine._orders = OrderedDict((cid, dict(r)) for cid, r in data["orders"])
        engine._issued = OrderedDict((cid, (v[0], v[1])) for cid, v in data["issued"])
        engine._approvals = deque(int(t) for t in data["approvals"])
        engine._protections = {s: dict(p) for s, p in data["protections"].items()}
        engine._dropped_events = int(data.get("dropped_events", 0))
        return engine


def _breaker_code(breaker: Breaker) -> RiskReason:
    if isinstance(breaker, DrawdownBreaker):
        return (
            RiskReason.DRAWDOWN_HARD
            if breaker.level == DrawdownBreaker.HARD
            else RiskReason.DRAWDOWN_SOFT
        )
    return breaker.code


def _is_finite(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def _pending(orders: Iterable[Order], symbol: str) -> tuple[float, float]:
    """Remaining quantity of the open buy and sell orders of ``symbol``."""
    buy = sell = 0.0
    for order in orders:
        if order.symbol == symbol:
            if order.side is Side.BUY:
                buy += order.remaining_quantity
            else:
                sell += order.remaining_quantity
    return buy, sell


def _gross_others(
    portfolio: Portfolio, market: MarketState, orders: list[Order], symbol: str
) -> float:
    """Worst-case gross exposure of every other symbol: each position plus its open orders,
    filled in the direction that makes it largest."""
    pending: dict[str, list[float]] = {}
    for order in orders:
        if order.symbol != symbol:
            side = pending.setdefault(order.symbol, [0.0, 0.0])
            side[0 if order.side is Side.BUY else 1] += order.remaining_quantity
    total = 0.0
    for sym in set(portfolio.positions) | set(pending):
        if sym == symbol:
            continue
        position = portfolio.position(sym)
        buy, sell = pending.get(sym, (0.0, 0.0))
        price = market.price(sym) or position.average_price
        total += max(abs(position.quantity + buy), abs(position.quantity - sell)) * price
    return total
