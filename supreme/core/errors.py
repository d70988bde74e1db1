"""The domain's error tree.

Each class names the kind of fault, not where it happened, so the gateway can map every one of
them to a gRPC status code in a single function. A risk denial is *not* an error: it is a normal
outcome (:class:`supreme.core.risk.RiskDecision`).
"""

from __future__ import annotations


class SupremeError(Exception):
    """Base of every error Supreme raises on purpose."""


class InvalidArgument(SupremeError, ValueError):
    """A malformed value: NaN or negative price, empty symbol, unknown or out-of-bounds param."""


class NotFound(SupremeError, KeyError):
    """An unknown strategy, order, symbol or instance."""

    def __str__(self) -> str:  # KeyError quotes its argument; we want the plain message
        return str(self.args[0]) if self.args else ""


class AlreadyExists(SupremeError):
    """Something that must be unique already exists (for example a client order id)."""


class FailedPrecondition(SupremeError):
    """The system is not in a state that allows the request (for example trading is halted)."""


class ResourceExhausted(SupremeError):
    """A queue, rate or size limit was hit."""


class IllegalTransition(FailedPrecondition):
    """An order was asked to move to a status its current status cannot reach."""


class Unavailable(SupremeError):
    """Something the request needs (an actor, a venue) cannot serve it right now; retrying
    later may succeed (for example while execution reconciles with its venue)."""
