"""What every market-data feed offers, and the timeframes they share.

A :class:`Feed` has two sides:

- :meth:`Feed.history` yields the *closed* bars of one symbol in ``[start_ms, end_ms)``, oldest
  first, in pages (``BarBatch``es), each already through the cleaning pipeline
  (:mod:`supreme.data.clean`);
- :meth:`Feed.stream` yields new closed bars of several symbols as they close, for as long as it
  is iterated. A bar that is still forming is never yielded.

Times are UTC milliseconds; a bar's time is its open time, as on every exchange and on Yahoo.
Errors are :class:`FeedError` subclasses whose message says what was asked and what went wrong.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from typing import Protocol, runtime_checkable

from supreme.core.errors import InvalidArgument, NotFound
from supreme.core.model import BarBatch

__all__ = [
    "TIMEFRAMES",
    "Feed",
    "FeedError",
    "FeedUnavailable",
    "SymbolNotFound",
    "timeframe_ms",
]

# The timeframes every feed understands, in milliseconds.
TIMEFRAMES: dict[str, int] = {
    "1m": 60_000,
    "5m": 300_000,
    "15m": 900_000,
    "30m": 1_800_000,
    "1h": 3_600_000,
    "4h": 14_400_000,
    "1d": 86_400_000,
    "1w": 604_800_000,
}


def timeframe_ms(timeframe: str) -> int:
    """The length of ``timeframe`` in ms; :class:`InvalidArgument` names the valid ones."""
    try:
        return TIMEFRAMES[timeframe]
    except (KeyError, TypeError):
        raise InvalidArgument(
            f"unknown timeframe {timeframe!r}; expected one of {', '.join(TIMEFRAMES)}"
        ) from None


class FeedError(RuntimeError):
    """A feed could not deliver what was asked."""


class SymbolNotFound(FeedError, NotFound):
    """The source does not know the symbol (delisted, misspelt, not listed on the venue)."""


class FeedUnavailable(FeedError):
    """The source did not answer, even after retries (network, rate limit, outage)."""


@runtime_checkable
class Feed(Protocol):
    name: str

    def history(
        self, symbol: str, timeframe: str, start_ms: int, end_ms: int
    ) -> AsyncIterator[BarBatch]:
        """Closed bars of ``symbol`` in ``[start_ms, end_ms)``, oldest first, in pages."""
        ...

    def stream(self, symbols: Sequence[str], timeframe: str) -> AsyncIterator[BarBatch]:
        """New closed bars of ``symbols`` as they close, until the iteration stops."""
        ...

    async def close(self) -> None:
        """Release connections; the feed is not used afterwards."""
        ...
