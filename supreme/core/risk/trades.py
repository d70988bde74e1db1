"""Per-strategy trade attribution: round trips and the statistics sizing needs.

The portfolio nets every strategy's fills into one position per symbol; the ledger keeps a
position per ``(strategy, symbol)`` from each fill's ``strategy`` field and cuts it into
round trips:

* A trade runs from flat to flat. Adds and partial exits inside it are part of the same trade:
  ``quantity`` is the total opened quantity (which equals the total closed), ``entry_price``
  and ``exit_price`` are the quantity-weighted averages of the opening and the closing fills.
* ``gross_pnl`` is realized on average cost exactly as :meth:`Position.apply` does, so for one
  strategy trading one symbol the closed trades add up to the portfolio's realized PnL.
* A fill that flips the position closes the trade with the part that reaches flat and opens
  the next trade with the rest; its fee is split between the two in proportion to quantity.
* ``fees`` are every opening and closing fee of the trade; ``pnl = gross_pnl - fees``.
* A win is ``pnl > 0``, a loss ``pnl < 0``; a trade at exactly zero is neither and ends a
  losing streak.

:meth:`TradeLedger.on_fill` with ``allocate=True`` (used for the risk engine's own exits)
gives the fill to the strategies whose attributed positions it reduces, in strategy-name
order, and only what is left to the fill's own strategy.
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass, replace
from typing import Any

from supreme.core.errors import InvalidArgument
from supreme.core.model import QTY_EPSILON, Direction, Fill, Position

__all__ = ["ClosedTrade", "StrategyStats", "TradeLedger"]


@dataclass(frozen=True, slots=True)
class ClosedTrade:
    strategy: str
    symbol: str
    direction: Direction  # LONG or SHORT
    entry_time_ms: int
    exit_time_ms: int
    quantity: float
    entry_price: float
    exit_price: float
    gross_pnl: float
    fees: float
    pnl: float

    @property
    def is_win(self) -> bool:
        return self.pnl > 0

    @property
    def is_loss(self) -> bool:
        return self.pnl < 0

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["direction"] = self.direction.name
        return data

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> ClosedTrade:
        values = dict(data)
        values["direction"] = Direction[values["direction"]]
        return cls(**values)


@dataclass(frozen=True, slots=True)
class StrategyStats:
    """A strategy's record over its last ``window`` closed trades.

    ``payoff_ratio`` is average win / average |loss|: ``inf`` with wins and no losses, ``0.0``
    without wins. ``consecutive_losses`` is the current losing streak over all its trades.
    """

    strategy: str
    trades: int = 0
    wins: int = 0
    losses: int = 0
    win_rate: float = 0.0
    average_win: float = 0.0
    average_loss: float = 0.0  # a magnitude (>= 0)
    payoff_ratio: float = 0.0
    consecutive_losses: int = 0
    total_pnl: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe: an infinite payoff ratio is rendered as ``None``."""
        data = asdict(self)
        if not math.isfinite(self.payoff_ratio):
            data["payoff_ratio"] = None
        return data


def _stats(strategy: str, pnls: Iterable[float], streak: int) -> StrategyStats:
    values = list(pnls)
    wins = [p for p in values if p > 0]
    losses = [-p for p in values if p < 0]
    average_win = sum(wins) / len(wins) if wins else 0.0
    average_loss = sum(losses) / len(losses) if losses else 0.0
    payoff = average_win / average_loss if losses else math.inf if wins else 0.0
    return StrategyStats(
        strategy=strategy,
        trades=len(values),
        wins=len(wins),
        losses=len(losses),
        win_rate=len(wins) / len(values) if values else 0.0,
        average_win=average_win,
        average_loss=average_loss,
        payoff_ratio=payoff,
        consecutive_losses=streak,
        total_pnl=sum(values),
    )


class _OpenTrade:
    """The round trip a (strategy, symbol) is in."""

    __slots__ = (
        "closed_notional",
        "closed_quantity",
        "direction",
        "entry_time_ms",
        "fees",
        "gross_pnl",
        "opened_notional",
        "opened_quantity",
        "position",
    )

    def __init__(self, symbol: str, entry_time_ms: int, direction: Direction) -> None:
        self.position = Position(symbol)
        self.direction = direction
        self.entry_time_ms = entry_time_ms
        self.opened_quantity = 0.0
        self.opened_notional = 0.0
        self.closed_quantity = 0.0
        self.closed_notional = 0.0
        self.gross_pnl = 0.0
        self.fees = 0.0

    def to_dict(self) -> dict[str, Any]:
        return {
            "direction": self.direction.name,
            "quantity": self.position.quantity,
            "average_price": self.position.average_price,
            "realized_pnl": self.position.realized_pnl,
            "entry_time_ms": self.entry_time_ms,
            "opened_quantity": self.opened_quantity,
            "opened_notional": self.opened_notional,
            "closed_quantity": self.closed_quantity,
            "closed_notional": self.closed_notional,
            "gross_pnl": self.gross_pnl,
            "fees": self.fees,
        }

    @classmethod
    def from_dict(cls, symbol: str, data: Mapping[str, Any]) -> _OpenTrade:
        trade = cls(symbol, int(data["entry_time_ms"]), Direction[data["direction"]])
        trade.position = Position(
            symbol,
            float(data["quantity"]),
            float(data["average_price"]),
            float(data["realized_pnl"]),
        )
        for name in (
            "opened_quantity",
            "opened_notional",
            "closed_quantity",
            "closed_notional",
            "gross_pnl",
            "fees",
        ):
            setattr(trade, name, float(data[name]))
        return trade


class TradeLedger:
    """Attributed positions and closed round trips per (strategy, symbol)."""

    def __init__(self, window: int = 100, history_limit: int | None = 100_000) -> None:
        if isinstance(window, bool) or not isinstance(window, int) or window < 1:
            raise InvalidArgument(f"window must be an integer >= 1, got {window!r}")
        if history_limit is not None and (
            isinstance(history_limit, bool) or not isinstance(history_limit, int)
        ):
            raise InvalidArgument(f"history_limit must be an integer or None, got {history_limit}")
        self._window = window
        self._open: dict[tuple[str, str], _OpenTrade] = {}
        self._recent: dict[str, deque[float]] = {}  # strategy -> pnls of the last `window`
        self._streak: dict[str, int] = {}
        self._history: deque[ClosedTrade] = deque(maxlen=history_limit)

    # -- queries -------------------------------------------------------------------------------

    @property
    def window(self) -> int:
        return self._window

    def position(self, strategy: str, symbol: str) -> float:
        """The signed quantity attributed to ``strategy`` in ``symbol``."""
        trade = self._open.get((strategy, symbol))
        return 0.0 if trade is None else trade.position.quantity

    def positions(self, symbol: str | None = None) -> dict[tuple[str, str], float]:
        """Every non-flat attributed position, keyed by (strategy, symbol)."""
        return {
            key: t.position.quantity
            for key, t in self._open.items()
            if symbol is None or key[1] == symbol
        }

    @property
    def closed_trades(self) -> list[ClosedTrade]:
        """Every closed trade still in the history, oldest first."""
        return list(self._history)

    def stats(self, strategy: str) -> StrategyStats:
        return _stats(strategy, self._recent.get(strategy, ()), self._streak.get(strategy, 0))

    def all_stats(self) -> dict[str, StrategyStats]:
        return {s: self.stats(s) for s in sorted(self._recent)}

    def set_window(self, window: int) -> None:
        """Change the rolling window, keeping the most recent trades."""
        if isinstance(window, bool) or not isinstance(window, int) or window < 1:
            raise InvalidArgument(f"window must be an integer >= 1, got {window!r}")
        self._window = window
        self._recent = {s: deque(d, maxlen=window) for s, d in self._recent.items()}

    def set_history_limit(self, limit: int | None) -> None:
        """Change how many closed trades the history keeps (None: all)."""
        self._history = deque(self._history, maxlen=limit)

    # -- updates -------------------------------------------------------------------------------

    def on_fill(self, fill: Fill, *, allocate: bool = False) -> list[ClosedTrade]:
        """Attribute ``fill``; returns the trades it closed (at most one per strategy part)."""
        if not allocate:
            return self._apply(fill)
        closed: list[ClosedTrade] = []
        remaining = fill.quantity
        holders = sorted(
            (strategy, qty)
            for (strategy, symbol), qty in self.positions(fill.symbol).items()
            if qty * fill.side.sign < 0
        )
        for strategy, qty in holders:
            if remaining <= QTY_EPSILON:
                break
            part = min(remaining, abs(qty))
            fee = fill.fee * part / fill.quantity
            closed += self._apply(replace(fill, quantity=part, fee=fee, strategy=strategy))
            remaining -= part
        if remaining > QTY_EPSILON:
            fee = fill.fee * remaining / fill.quantity
            closed += self._apply(replace(fill, quantity=remaining, fee=fee))
        return closed

    def _apply(self, fill: Fill) -> list[ClosedTrade]:
        key = (fill.strategy, fill.symbol)
        signed = fill.signed_quantity
        trade = self._open.get(key)
        closed: list[ClosedTrade] = []
        fee_left = fill.fee
        if trade is not None and trade.position.quantity * signed < 0:
            held = abs(trade.position.quantity)
            closing = min(abs(signed), held)
            fee = fill.fee * closing / fill.quantity
            fee_left -= fee
            step = math.copysign(closing, signed)
            if abs(abs(signed) - held) <= QTY_EPSILON:
                # Reaches flat within float residue: the whole fill closes, as Position does.
                step = signed
            position, realized = trade.position.apply(step, fill.price)
            trade.position = position
            trade.closed_quantity += abs(step)
            trade.closed_notional += abs(step) * fill.price
            trade.gross_pnl += realized
            trade.fees += fee
            signed -= step
            if position.is_flat:
                closed.append(self._close(key, trade, fill.time_ms))
                trade = None
        if abs(signed) > QTY_EPSILON:
            if trade is None:
                direction = Direction.LONG if signed > 0 else Direction.SHORT
                trade = _OpenTrade(fill.symbol, fill.time_ms, direction)
                self._open[key] = trade
            trade.position, _ = trade.position.apply(signed, fill.price)
            trade.opened_quantity += abs(signed)
            trade.opened_notional += abs(signed) * fill.price
            trade.fees += fee_left
        elif trade is not None:
            trade.fees += fee_left  # float residue of a fee split
        return closed

    def _close(self, key: tuple[str, str], trade: _OpenTrade, time_ms: int) -> ClosedTrade:
        del self._open[key]
        strategy, symbol = key
        # opened and closed quantities agree up to float residue; report the opened one
        quantity = trade.opened_quantity
        result = ClosedTrade(
            strategy=strategy,
            symbol=symbol,
            direction=trade.direction,
            entry_time_ms=trade.entry_time_ms,
            exit_time_ms=time_ms,
            quantity=quantity,
            entry_price=trade.opened_notional / quantity,
            exit_price=trade.closed_notional / trade.closed_quantity,
            gross_pnl=trade.gross_pnl,
            fees=trade.fees,
            pnl=trade.gross_pnl - trade.fees,
        )
        self._record(result)
        return result

    def _record(self, trade: ClosedTrade) -> None:
        self._history.append(trade)
        recent = self._recent.setdefault(trade.strategy, deque(maxlen=self._window))
        recent.append(trade.pnl)
        self._streak[trade.strategy] = (
            self._streak.get(trade.strategy, 0) + 1 if trade.is_loss else 0
        )

    # -- persistence -------------------------------------------------------------------------

    def snapshot(self) -> dict[str, Any]:
        return {
            "window": self._window,
            "history_limit": self._history.maxlen,
            "open": [
                {"strategy": s, "symbol": sym, **t.to_dict()} for (s, sym), t in self._open.items()
            ],
            "recent": {s: list(d) for s, d in self._recent.items()},
            "streak": dict(self._streak),
            "history": [t.to_dict() for t in self._history],
        }

    @classmethod
    def restore(cls, data: Mapping[str, Any]) -> TradeLedger:
        ledger = cls(int(data["window"]), data.get("history_limit"))
        for row in data.get("open", ()):
            key = (row["strategy"], row["symbol"])
            ledger._open[key] = _OpenTrade.from_dict(row["symbol"], row)
        ledger._recent = {
            s: deque((float(p) for p in pnls), maxlen=ledger._window)
            for s, pnls in data.get("recent", {}).items()
        }
        ledger._streak = {s: int(n) for s, n in data.get("streak", {}).items()}
        ledger._history.extend(ClosedTrade.from_dict(t) for t in data.get("history", ()))
        return ledger
