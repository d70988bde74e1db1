"""From a strategy's signal to order intents.

A strategy says where it wants to be (LONG, SHORT or FLAT); this module says which orders get it
there from where it is. The backtester and the live trading instances use the same function, so
a strategy trades the same way in both.
"""

from __future__ import annotations

import itertools

from supreme.core.model import QTY_EPSILON, Direction, OrderIntent, Side, Signal

__all__ = ["ClientOrderIds", "intents_for_signal"]


class ClientOrderIds:
    """Deterministic, unique client order ids: ``<prefix>-<strategy>-<symbol>-<time>-<n>``.

    The running counter makes two orders from the same bar distinct; the prefix keeps ids from
    different sessions (or a restarted live instance) apart.
    """

    def __init__(self, prefix: str = "bt") -> None:
        self._prefix = prefix
        self._counter = itertools.count(1)

    def next(self, strategy: str, symbol: str, time_ms: int) -> str:
        return f"{self._prefix}-{strategy}-{symbol}-{time_ms}-{next(self._counter)}"


def intents_for_signal(
    signal: Signal, held_quantity: float, ids: ClientOrderIds
) -> list[OrderIntent]:
    """The intents that move a strategy from ``held_quantity`` to the signal's direction.

    ``held_quantity`` is the signed quantity this strategy holds in the signal's symbol (filled
    plus still-pending orders). Closing is a separate, reduce-only intent with an explicit
    quantity, so the risk engine can let it through while only exposure-reducing orders are
    allowed. Opening leaves the quantity to the risk engine's sizing (``quantity=None``).
    """
    target = signal.direction
    intents: list[OrderIntent] = []
    held = 0.0 if abs(held_quantity) <= QTY_EPSILON else held_quantity
    held_direction = Direction.FLAT if held == 0.0 else Direction(1 if held > 0 else -1)
    if held_direction is target:
        return intents
    if held != 0.0:
        intents.append(
            OrderIntent(
                client_order_id=ids.next(signal.strategy, signal.symbol, signal.time_ms),
                symbol=signal.symbol,
                side=Side.SELL if held > 0 else Side.BUY,
                quantity=abs(held),
                strategy=signal.strategy,
                time_ms=signal.time_ms,
                reduce_only=True,
            )
        )
    if target is not Direction.FLAT:
        intents.append(
            OrderIntent(
                client_order_id=ids.next(signal.strategy, signal.symbol, signal.time_ms),
                symbol=signal.symbol,
                side=Side.BUY if target is Direction.LONG else Side.SELL,
                quantity=None,
                strategy=signal.strategy,
                time_ms=signal.time_ms,
            )
        )
    return intents
