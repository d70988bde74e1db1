"""The order state machine: the transition table, and fills moving an order."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from supreme.core.errors import IllegalTransition, InvalidArgument
from supreme.core.execution.state import (
    LEGAL_TRANSITIONS,
    apply_fill,
    can_transition,
    transition,
)
from supreme.core.model import Fill, Order, OrderStatus, Side

S = OrderStatus

# Written out independently of the implementation's table.
EXPECTED_LEGAL = {
    S.NEW: {S.SUBMITTED, S.REJECTED, S.DENIED, S.CANCELED, S.PARTIALLY_FILLED, S.FILLED},
    S.SUBMITTED: {S.PARTIALLY_FILLED, S.FILLED, S.CANCELED, S.REJECTED, S.EXPIRED},
    S.PARTIALLY_FILLED: {S.PARTIALLY_FILLED, S.FILLED, S.CANCELED, S.EXPIRED},
    S.FILLED: set(),
    S.CANCELED: set(),
    S.REJECTED: set(),
    S.EXPIRED: set(),
    S.DENIED: set(),
}
ALL_PAIRS = [(a, b) for a in OrderStatus for b in OrderStatus]


def order(status: OrderStatus = S.NEW, filled: float = 0.0, **kw: object) -> Order:
    base = dict(
        client_order_id="c1",
        symbol="BTC",
        side=Side.BUY,
        quantity=10.0,
        status=status,
        filled_quantity=filled,
        created_ms=1_000,
        updated_ms=1_000,
    )
    base.update(kw)
    return Order(**base)  # type: ignore[arg-type]


def fill(qty: float, price: float = 100.0, fee: float = 0.1, n: int = 1, **kw: object) -> Fill:
    base = dict(
        fill_id=f"c1-{n}",
        client_order_id="c1",
        symbol="BTC",
        side=Side.BUY,
        quantity=qty,
        price=price,
        fee=fee,
        time_ms=2_000 + n,
    )
    base.update(kw)
    return Fill(**base)  # type: ignore[arg-type]


def test_table_matches_specification() -> None:
    assert {k: set(v) for k, v in LEGAL_TRANSITIONS.items()} == EXPECTED_LEGAL
    for status in OrderStatus:
        assert (not LEGAL_TRANSITIONS[status]) == status.is_terminal


@pytest.mark.parametrize(
    ("src", "dst"), ALL_PAIRS, ids=[f"{a.value}->{b.value}" for a, b in ALL_PAIRS]
)
def test_every_transition(src: OrderStatus, dst: OrderStatus) -> None:
    legal = dst in EXPECTED_LEGAL[src]
    assert can_transition(src, dst) is legal
    start = order(src, filled=2.0 if src is S.PARTIALLY_FILLED else 0.0)
    if dst in (S.PARTIALLY_FILLED, S.FILLED):
        # Fill statuses are reached by booking a fill.
        qty = 1.0 if dst is S.PARTIALLY_FILLED else start.remaining_quantity
        if legal:
            after = apply_fill(start, fill(qty))
            assert after.status is dst
        else:
            with pytest.raises(IllegalTransition) as info:
                apply_fill(start, fill(qty))
            message = str(info.value)
            assert src.value in message and dst.value in message and "c1" in message
        return
    if legal:
        after = transition(start, dst, time_ms=5_000, reason="why", venue_order_id="v9")
        assert after.status is dst
        assert after.updated_ms == 5_000
        assert after.reason == "why"
        assert after.venue_order_id == "v9"
        assert start.status is src  # immutable
    else:
        with pytest.raises(IllegalTransition) as info:
            transition(start, dst, time_ms=5_000)
        message = str(info.value)
        assert src.value in message and dst.value in message and "c1" in message


def test_transition_keeps_reason_and_venue_id_when_not_given() -> None:
    submitted = transition(order(), S.SUBMITTED, time_ms=1_500, venue_order_id="v1", reason="ok")
    canceled = transition(submitted, S.CANCELED, time_ms=1_600)
    assert canceled.venue_order_id == "v1"
    assert canceled.reason == "ok"


def test_updated_ms_never_moves_backwards() -> None:
    submitted = transition(order(), S.SUBMITTED, time_ms=500)
    assert submitted.updated_ms == 1_000


def test_transition_to_fill_status_requires_consistent_quantities() -> None:
    with pytest.raises(InvalidArgument):
        transition(order(S.SUBMITTED), S.FILLED, time_ms=2_000)
    with pytest.raises(InvalidArgument):
        transition(order(S.SUBMITTED), S.PARTIALLY_FILLED, time_ms=2_000)
    done = transition(order(S.SUBMITTED, filled=10.0), S.FILLED, time_ms=2_000)
    assert done.status is S.FILLED
    part = transition(order(S.SUBMITTED, filled=3.0), S.PARTIALLY_FILLED, time_ms=2_000)
    assert part.status is S.PARTIALLY_FILLED


def test_transition_validates_arguments() -> None:
    with pytest.raises(InvalidArgument):
        transition(order(), "SUBMITTED", time_ms=1)  # type: ignore[arg-type]
    with pytest.raises(InvalidArgument):
        transition(order(), S.SUBMITTED, time_ms=-1)


def test_partial_then_full_fill_volume_weighted() -> None:
    start = order(S.SUBMITTED)
    first = apply_fill(start, fill(4.0, price=100.0, fee=0.4, n=1))
    assert first.status is S.PARTIALLY_FILLED
    assert first.filled_quantity == 4.0
    assert first.average_fill_price == 100.0
    assert first.remaining_quantity == 6.0
    second = apply_fill(first, fill(6.0, price=110.0, fee=0.66, n=2))
    assert second.status is S.FILLED
    assert second.filled_quantity == 10.0
    assert second.remaining_quantity == 0.0
    assert second.average_fill_price == pytest.approx(106.0, rel=1e-15)
    assert second.fees == pytest.approx(1.06, rel=1e-15)
    assert second.updated_ms == 2_002
    assert start.filled_quantity == 0.0  # immutable


def test_overfill_raises() -> None:
    part = apply_fill(order(S.SUBMITTED), fill(8.0))
    with pytest.raises(InvalidArgument, match="overfill"):
        apply_fill(part, fill(2.5, n=2))
    with pytest.raises(InvalidArgument, match="overfill"):
        apply_fill(order(S.SUBMITTED), fill(10.5))


def test_fill_on_filled_order_is_illegal() -> None:
    done = apply_fill(order(S.SUBMITTED), fill(10.0))
    with pytest.raises(IllegalTransition):
        apply_fill(done, fill(1.0, n=2))


@pytest.mark.parametrize(
    ("field", "value"),
    [("client_order_id", "other"), ("symbol", "ETH"), ("side", Side.SELL)],
)
def test_fill_of_another_order_symbol_or_side_raises(field: str, value: object) -> None:
    with pytest.raises(InvalidArgument):
        apply_fill(order(S.SUBMITTED), fill(1.0, **{field: value}))


def test_float_residue_completes_the_order() -> None:
    start = order(S.SUBMITTED, quantity=0.3)
    after = apply_fill(start, fill(0.1, n=1))
    after = apply_fill(after, fill(0.2, n=2))
    assert after.status is S.FILLED
    assert after.filled_quantity == 0.3
    assert after.remaining_quantity == 0.0


def test_late_fill_on_canceled_order_is_booked_only_when_allowed() -> None:
    part = apply_fill(order(S.SUBMITTED), fill(4.0))
    canceled = transition(part, S.CANCELED, time_ms=3_000)
    with pytest.raises(IllegalTransition):
        apply_fill(canceled, fill(2.0, n=2))
    late = apply_fill(canceled, fill(2.0, price=130.0, n=2), allow_terminal=True)
    assert late.status is S.CANCELED
    assert late.filled_quantity == 6.0
    assert late.average_fill_price == pytest.approx((4 * 100 + 2 * 130) / 6)
    rejected = transition(order(), S.REJECTED, time_ms=3_000)
    with pytest.raises(IllegalTransition):
        apply_fill(rejected, fill(1.0), allow_terminal=True)


@given(
    quantity=st.floats(min_value=0.001, max_value=1e6),
    weights=st.lists(st.floats(min_value=0.01, max_value=1.0), min_size=1, max_size=8),
    prices=st.lists(st.floats(min_value=0.01, max_value=1e5), min_size=8, max_size=8),
)
def test_fills_summing_to_quantity_fill_the_order(
    quantity: float, weights: list[float], prices: list[float]
) -> None:
    total = sum(weights)
    parts = [quantity * w / total for w in weights[:-1]]
    parts.append(quantity - sum(parts))
    current = order(S.SUBMITTED, quantity=quantity)
    notional = 0.0
    for i, (q, p) in enumerate(zip(parts, prices, strict=False)):
        if q <= 0:
            continue
        current = apply_fill(current, fill(q, price=p, fee=0.0, n=i))
        notional += q * p
    assert current.status is S.FILLED
    assert current.filled_quantity == quantity
    assert current.average_fill_price == pytest.approx(notional / quantity, rel=1e-9)
