"""The balance arithmetic of reconciliation: what the journal's fills explain, and when a
venue balance is a mismatch."""

import pytest

from supreme.core.execution.reconcile import BalanceTolerance, _compare, _expected
from supreme.core.model import Fill, Side


class Assets:
    def assets(self, symbol: str) -> tuple[str, str]:
        base, quote = symbol.split("/")
        return base, quote


def fill(fid: str, side: Side, quantity: float, price: float, fee: float) -> Fill:
    return Fill(fid, "c1", "BTC/USDT", side, quantity, price, fee, 1_000, "s")


def test_fills_move_base_by_quantity_and_quote_by_notional_and_fee():
    saved = {"balances": {"USDT": 10_000.0, "BNB": 1.0}}
    fills = [
        fill("f1", Side.BUY, 0.1, 40_000.0, 4.0),
        fill("f2", Side.SELL, 0.04, 41_000.0, 1.64),
    ]
    expected, turnover = _expected(saved, fills, Assets())
    assert expected["BTC"] == pytest.approx(0.06)
    assert expected["USDT"] == pytest.approx(10_000 - 4_000 - 4.0 + 1_640 - 1.64)
    assert expected["BNB"] == 1.0  # untouched assets keep their baseline
    assert turnover == pytest.approx({"BTC": 0.14, "USDT": 5_640.0})


def test_fee_in_the_base_asset_is_tolerated_a_deposit_is_not():
    expected = {"BTC": 0.1, "USDT": 5_996.0}
    turnover = {"BTC": 0.1, "USDT": 4_000.0}
    tolerance = BalanceTolerance()
    # The venue took its 0.1% fee in BTC instead of USDT: within 0.2% of the turnover.
    venue = {"BTC": 0.0999, "USDT": 5_996.0}
    compared, mismatches = _compare(venue, expected, turnover, tolerance)
    assert mismatches == [] and compared["BTC"] == {"venue": 0.0999, "expected": 0.1}
    # A deposit of 0.5 BTC, and a coin nobody traded showing up.
    venue = {"BTC": 0.6, "USDT": 5_996.0, "ETH": 2.0}
    _, mismatches = _compare(venue, expected, turnover, tolerance)
    assert [(m["asset"], m["difference"]) for m in mismatches] == [
        ("BTC", pytest.approx(0.5)),
        ("ETH", 2.0),
    ]
    # An asset the journal expects but the venue no longer has is a mismatch too.
    _, mismatches = _compare({"USDT": 5_996.0}, expected, turnover, tolerance)
    assert [m["asset"] for m in mismatches] == ["BTC"]


def test_tolerances_must_not_be_negative():
    with pytest.raises(ValueError):
        BalanceTolerance(relative=-0.1)
