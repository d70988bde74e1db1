"""A live terminal view of a Supreme server, built on the public SDK only.

Recent signals (one subscription per strategy, each read by a background thread), recent
orders, positions, PnL and equity, and the risk state, redrawn every ``refresh`` seconds. On a
terminal the screen is cleared and redrawn (plain ANSI); otherwise a compact text snapshot is
printed at each refresh, so the output stays readable in a log or a pipe.

    from supreme.client import SupremeClient
    from supreme.client.live_view import run_live_view

    with SupremeClient.connect("localhost:50051") as client:
        run_live_view(client, duration=60)
"""

from __future__ import annotations

import sys
import threading
import time
from collections import deque
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, TextIO

from supreme.client.errors import SupremeClientError

__all__ = ["Subscription", "run_live_view"]

_CLEAR = "\x1b[H\x1b[2J"
_HIDE_CURSOR = "\x1b[?25l"
_SHOW_CURSOR = "\x1b[?25h"
# Wait this long before subscribing again after a stream failed.
_RETRY_SECONDS = 2.0


@dataclass(frozen=True)
class Subscription:
    """One signal subscription of the view."""

    strategy: str
    symbols: tuple[str, ...]
    params: Mapping[str, float] = field(default_factory=dict)


def _hms(time_ms: int) -> str:
    return datetime.fromtimestamp(time_ms / 1000, tz=UTC).strftime("%Y-%m-%d %H:%M")


def _now() -> str:
    return datetime.now(tz=UTC).strftime("%H:%M:%S")


def _money(value: float) -> str:
    return f"{value:,.2f}"


class _SignalFeed(threading.Thread):
    """Keeps one subscription open, pushing its signals into the shared buffer; resubscribes
    after a failure (a cut-off, a server restart) until stopped."""

    def __init__(self, client: Any, subscription: Subscription, view: _ViewState) -> None:
        super().__init__(name=f"live-signals-{subscription.strategy}", daemon=True)
        self._client = client
        self._sub = subscription
        self._view = view
        self._stopped = threading.Event()
        self._stream: Any = None
        self._lock = threading.Lock()

    def stop(self) -> None:
        self._stopped.set()
        with self._lock:
            stream = self._stream
        if stream is not None:
            stream.cancel()

    def run(self) -> None:
        key = self._sub.strategy
        while not self._stopped.is_set():
            try:
                stream = self._client.subscribe_signals(
                    list(self._sub.symbols), self._sub.strategy, dict(self._sub.params)
                )
            except SupremeClientError as exc:
                self._view.set_feed(key, f"subscribe failed: {exc}")
                self._stopped.wait(_RETRY_SECONDS)
                continue
            with self._lock:
                self._stream = stream
            if self._stopped.is_set():
                stream.cancel()
                return
            self._view.set_feed(key, f"live ({stream.subscription_id})")
            try:
                for signal in stream:
                    self._view.add_signal(signal)
                if self._stopped.is_set():
                    return
                self._view.set_feed(key, "stream ended; resubscribing")
            except SupremeClientError as exc:
                self._view.set_feed(key, f"{type(exc).__name__}: {exc}; resubscribing")
            self._stopped.wait(_RETRY_SECONDS)


class _ViewState:
    """What the background feeds share with the drawing loop."""

    def __init__(self, max_signals: int) -> None:
        self._lock = threading.Lock()
        self.signals: deque[Any] = deque(maxlen=max_signals)
        self.signal_count = 0
        self.feeds: dict[str, str] = {}

    def add_signal(self, signal: Any) -> None:
        with self._lock:
            self.signals.append(signal)
            self.signal_count += 1

    def set_feed(self, name: str, status: str) -> None:
        with self._lock:
            self.feeds[name] = status

    def snapshot(self) -> tuple[list[Any], int, dict[str, str]]:
        with self._lock:
            return list(self.signals), self.signal_count, dict(self.feeds)


@dataclass
class _Frame:
    """Everything one redraw shows."""

    clock: str
    signals: list[Any]
    signal_count: int
    feeds: dict[str, str]
    orders: list[Any] | None = None
    portfolio: Any = None
    risk: Any = None
    errors: list[str] = field(default_factory=list)


def _poll(client: Any, view: _ViewState, max_orders: int) -> _Frame:
    signals, count, feeds = view.snapshot()
    frame = _Frame(_now(), signals, count, feeds)
    for name, call in (
        ("orders", lambda: client.orders(limit=max_orders)),
        ("portfolio", client.portfolio),
        ("risk", client.risk_state),
    ):
        try:
            setattr(frame, name, call())
        except SupremeClientError as exc:
            frame.errors.append(f"{name}: {type(exc).__name__}: {exc}")
    return frame


def _signal_line(signal: Any) -> str:
    return (
        f"{_hms(signal.time_ms)}  {signal.symbol:<10} {signal.strategy:<15} "
        f"{signal.direction.name:<5} strength {signal.strength:4.2f}  @ {signal.price:,.4f}"
    )


def _order_line(order: Any) -> str:
    line = (
        f"{_hms(order.updated_ms or order.created_ms)}  {order.symbol:<10} {order.side.name:<4} "
        f"{order.quantity:>12.6g} {order.status.name:<16} filled {order.filled_quantity:.6g}"
    )
    if order.average_fill_price:
        line += f" @ {order.average_fill_price:,.4f}"
    code = getattr(order, "reason_code", "")
    if order.status.name in ("DENIED", "REJECTED") and (order.reason or code):
        line += f"  [{code}] {order.reason}" if code else f"  {order.reason}"
    return line


def render_frame(frame: _Frame, title: str = "Supreme") -> str:
    """The full-screen view, as text."""
    lines = [f"{title} live view  {frame.clock} UTC  (Ctrl-C to quit)", ""]
    risk = frame.risk
    if risk is not None:
        tripped = ", ".join(b.name for b in risk.tripped) or "none"
        lines.append(
            f"RISK  {risk.state}  (manual {risk.manual_state})  drawdown {risk.drawdown:.2%}"
            f"  peak {_money(risk.peak_equity)}  breakers tripped: {tripped}"
        )
    portfolio = frame.portfolio
    if portfolio is not None:
        lines.append(
            f"PNL   equity {_money(portfolio.equity)}  cash {_money(portfolio.cash)}  "
            f"realized {_money(portfolio.realized_pnl)}  unrealized "
            f"{_money(portfolio.unrealized_pnl)}  fees {_money(portfolio.fees)}"
        )
        lines.append(
            f"      gross exposure {_money(portfolio.gross_exposure)}  "
            f"net {_money(portfolio.net_exposure)}"
        )
        lines += ["", "POSITIONS"]
        open_positions = [p for p in portfolio.positions if p.quantity]
        if not open_positions:
            lines.append("  (flat)")
        for p in open_positions:
            lines.append(
                f"  {p.symbol:<10} {p.quantity:>14.6g} avg {p.average_price:>12,.4f}  mark "
                f"{p.market_price:>12,.4f}  value {_money(p.market_value):>14}  "
                f"uPnL {_money(p.unrealized_pnl):>12}"
            )
    lines += ["", f"SIGNALS  ({frame.signal_count} received)"]
    for name, status in sorted(frame.feeds.items()):
        lines.append(f"  [{name}] {status}")
    if not frame.signals:
        lines.append("  (none yet)")
    lines += [f"  {_signal_line(s)}" for s in reversed(frame.signals)]
    lines += ["", "ORDERS  (most recent first)"]
    if frame.orders is not None:
        if not frame.orders:
            lines.append("  (none)")
        lines += [f"  {_order_line(o)}" for o in reversed(frame.orders)]
    if frame.errors:
        lines += ["", *(f"! {e}" for e in frame.errors)]
    return "\n".join(lines) + "\n"


def render_compact(
    frame: _Frame, new_signals: Sequence[Any], changed_feeds: Mapping[str, str] | None = None
) -> str:
    """A few lines per refresh, for logs and pipes: the figures, then only what is new (signals,
    subscription status changes)."""
    parts = [f"[{frame.clock}]"]
    if frame.risk is not None:
        parts.append(f"risk {frame.risk.state}")
        tripped = [b.name for b in frame.risk.tripped]
        if tripped:
            parts.append(f"tripped {','.join(tripped)}")
    if frame.portfolio is not None:
        p = frame.portfolio
        held = sum(1 for x in p.positions if x.quantity)
        parts.append(
            f"equity {_money(p.equity)} realized {_money(p.realized_pnl)} "
            f"unrealized {_money(p.unrealized_pnl)} positions {held}"
        )
    if frame.orders is not None:
        open_orders = sum(1 for o in frame.orders if o.status.is_open)
        parts.append(f"orders {len(frame.orders)} recent/{open_orders} open")
    parts.append(f"signals {frame.signal_count}")
    lines = [" | ".join(parts)]
    lines += [f"  [{name}] {status}" for name, status in sorted((changed_feeds or {}).items())]
    lines += [f"  signal {_signal_line(s)}" for s in new_signals]
    if frame.orders:
        lines.append(f"  last order {_order_line(frame.orders[-1])}")
    lines += [f"  ! {e}" for e in frame.errors]
    return "\n".join(lines) + "\n"


def _default_subscriptions(
    client: Any, strategies: Iterable[str] | None, symbols: Iterable[str] | None
) -> tuple[list[Subscription], str]:
    """Explicit strategies/symbols win; else what the server's trading instances run (with
    their params); else every strategy on the symbols held."""
    strategies = list(strategies) if strategies is not None else None
    symbols = list(symbols) if symbols is not None else None
    instances: list[Any] = []
    if strategies is None or symbols is None:
        try:
            instances = client.strategy_instances()
        except SupremeClientError:
            instances = []
    if strategies is None and symbols is None and instances:
        seen: dict[tuple[Any, ...], Subscription] = {}
        for inst in instances:
            sub = Subscription(inst.strategy, tuple(inst.symbols), dict(inst.params))
            seen.setdefault((sub.strategy, sub.symbols, tuple(sorted(sub.params.items()))), sub)
        return list(seen.values()), ""
    if symbols is None:
        symbols = sorted({s for inst in instances for s in inst.symbols})
    if not symbols:
        try:
            symbols = [p.symbol for p in client.positions() if p.quantity]
        except SupremeClientError:
            symbols = []
    if not symbols:
        return [], "no symbols to watch: no trading instances or positions (pass symbols=)"
    if strategies is None:
        try:
            strategies = [info.name for info in client.list_strategies()]
        except SupremeClientError as exc:
            return [], f"cannot list strategies: {exc}"
    return [Subscription(name, tuple(symbols)) for name in strategies], ""


def run_live_view(
    client: Any,
    duration: float | None = None,
    refresh: float = 1.0,
    out: TextIO | None = None,
    *,
    strategies: Iterable[str] | None = None,
    symbols: Iterable[str] | None = None,
    subscriptions: Iterable[Subscription] | None = None,
    max_signals: int = 12,
    max_orders: int = 8,
) -> int:
    """Show the live view until Ctrl-C or ``duration`` seconds; returns the frames drawn.

    ``client`` is a :class:`~supreme.client.SupremeClient` (anything with its methods).
    Signals come from one subscription per strategy: ``subscriptions`` if given, else
    ``strategies`` x ``symbols``, else the server's trading instances (see
    :func:`_default_subscriptions`). Failures of a call show in the view; they do not end it.
    """
    if refresh <= 0:
        raise ValueError(f"refresh must be > 0 seconds, got {refresh}")
    out = sys.stdout if out is None else out
    tty = bool(getattr(out, "isatty", lambda: False)())
    view = _ViewState(max_signals)
    if subscriptions is not None:
        subs, note = list(subscriptions), ""
    else:
        subs, note = _default_subscriptions(client, strategies, symbols)
    if note:
        view.set_feed("-", note)
    feeds = [_SignalFeed(client, sub, view) for sub in subs]
    for feed in feeds:
        feed.start()
    deadline = None if duration is None else time.monotonic() + duration
    frames = 0
    shown = 0
    feeds_shown: dict[str, str] = {}
    stop = threading.Event()
    try:
        if tty:
            out.write(_HIDE_CURSOR)
        while True:
            frame = _poll(client, view, max_orders)
            if tty:
                out.write(_CLEAR + render_frame(frame))
            else:
                fresh = frame.signal_count - shown
                new = frame.signals[-fresh:] if fresh > 0 else []
                shown = frame.signal_count
                changed = {k: v for k, v in frame.feeds.items() if feeds_shown.get(k) != v}
                feeds_shown.update(changed)
                out.write(render_compact(frame, new, changed))
            out.flush()
            frames += 1
            wait = refresh
            if deadline is not None:
                left = deadline - time.monotonic()
                if left <= 0:
                    break
                wait = min(wait, left)
            stop.wait(wait)
    except KeyboardInterrupt:
        pass
    finally:
        for feed in feeds:
            feed.stop()
        for feed in feeds:
            feed.join(timeout=1.0)
        if tty:
            out.write(_SHOW_CURSOR)
            out.flush()
    return frames
