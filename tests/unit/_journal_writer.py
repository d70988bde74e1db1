"""Child process of test_journal_crash: writes orders and fills to a journal until killed.

``python _journal_writer.py JOURNAL_PATH SEED`` journals a deterministic (per seed) stream of
orders, each filled in one to four partial fills, and prints ``ORDER <id>`` after each order's
``record_new`` returned and ``FILL <fill_id>`` after each ``record_fill`` returned: a printed
line is a promise that the record is durable. The parent SIGKILLs it mid-stream.
"""

from __future__ import annotations

import random
import sys
from collections.abc import Iterator

from supreme.core.model import Fill, Order, Side

INITIAL_CASH = 1_000_000.0
SYMBOLS = ("BTC", "ETH", "SOL")


def stream(seed: int, limit: int = 100_000) -> Iterator[tuple[Order, list[Fill]]]:
    """The orders and their fills the writer journals, in order, for ``seed``."""
    rng = random.Random(seed)
    t = 1_700_000_000_000
    for i in range(limit):
        cid = f"s{seed}-o{i}"
        symbol = rng.choice(SYMBOLS)
        side = rng.choice((Side.BUY, Side.SELL))
        quantity = rng.choice((0.3, 1.0, 2.5, 7.0, 0.123))
        t += 1_000
        order = Order(cid, symbol, side, quantity, strategy="crash", created_ms=t, updated_ms=t)
        weights = [rng.uniform(0.1, 1.0) for _ in range(rng.randint(1, 4))]
        parts = [quantity * w / sum(weights) for w in weights[:-1]]
        parts.append(quantity - sum(parts))
        fills = []
        for j, q in enumerate(parts):
            t += 1
            price = round(rng.uniform(10.0, 500.0), 2)
            fills.append(
                Fill(f"{cid}-f{j}", cid, symbol, side, q, price, q * price * 1e-4, t, "crash")
            )
        yield order, fills


def main() -> None:
    from supreme.core.execution.journal import OrderJournal
    from supreme.core.execution.state import apply_fill, transition
    from supreme.core.model import OrderStatus

    path, seed = sys.argv[1], int(sys.argv[2])
    journal = OrderJournal(path)
    journal.set_initial_cash(INITIAL_CASH)
    out = sys.stdout
    for order, fills in stream(seed):
        journal.record_new(order)
        out.write(f"ORDER {order.client_order_id}\n")
        out.flush()
        order = transition(order, OrderStatus.SUBMITTED, time_ms=order.created_ms)
        journal.update(order)
        for fill in fills:
            order = apply_fill(order, fill)
            journal.record_fill(fill, order)
            out.write(f"FILL {fill.fill_id}\n")
            out.flush()


if __name__ == "__main__":
    main()
