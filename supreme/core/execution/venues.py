"""Venue names and the ccxt exchange behind a live one.

A venue is ``paper`` (the :class:`~supreme.core.execution.PaperBroker`) or ``ccxt:<exchange>``
with any exchange id ccxt knows (``ccxt:binance``, ``ccxt:kraken``...). The live exchange is
built by :func:`make_exchange`: credentials from ``SUPREME_<EXCHANGE>_API_KEY`` /
``_SECRET`` / ``_PASSWORD`` or their ``*_FILE`` forms (:mod:`supreme.secrets`), ccxt's own rate
limiter on, ``options`` merged over that (for example another ``hostname`` or ``urls``), and
sandbox (testnet) mode when asked for.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from supreme.core.errors import InvalidArgument

__all__ = ["PAPER", "make_exchange", "parse_venue", "venue_slug"]

PAPER = "paper"
_SLUG = re.compile(r"[^A-Za-z0-9_.-]")


def parse_venue(venue: str) -> str | None:
    """The ccxt exchange id of ``venue``, or None for ``paper``; anything else is refused."""
    if venue == PAPER:
        return None
    if isinstance(venue, str) and venue.startswith("ccxt:"):
        import ccxt

        exchange_id = venue.split(":", 1)[1]
        if exchange_id in ccxt.exchanges:
            return exchange_id
        raise InvalidArgument(
            f"venue {venue!r}: ccxt has no exchange {exchange_id!r} (see ccxt.exchanges, "
            "for example ccxt:binance)"
        )
    raise InvalidArgument(f"venue must be 'paper' or 'ccxt:<exchange>', got {venue!r}")


def venue_slug(venue: str) -> str:
    """``venue`` as a file and actor name part (``ccxt:binance`` -> ``ccxt-binance``)."""
    return _SLUG.sub("-", venue)


def make_exchange(
    exchange_id: str,
    *,
    options: Mapping[str, Any] | None = None,
    sandbox: bool = False,
    streaming: bool = True,
) -> Any:
    """A ccxt exchange with credentials, ready for trading (the caller closes it).

    ``streaming`` picks ``ccxt.pro``'s class when it has one (for ``watch_orders``), else the
    plain asyncio one. Missing credentials and a venue without a sandbox are clear errors.
    """
    import ccxt.async_support as ccxt_async

    from supreme.secrets import venue_credentials

    cls = None
    if streaming:
        import ccxt.pro as ccxt_pro

        cls = getattr(ccxt_pro, exchange_id, None)
    cls = cls or getattr(ccxt_async, exchange_id, None)
    if cls is None:
        raise InvalidArgument(f"ccxt has no exchange {exchange_id!r}")
    credentials = venue_credentials(exchange_id)
    prefix = f"SUPREME_{exchange_id.upper().replace('-', '_')}"
    missing = [
        f"{prefix}_{suffix}"
        for field, suffix in (("apiKey", "API_KEY"), ("secret", "SECRET"))
        if field not in credentials
    ]
    if missing:
        raise InvalidArgument(
            f"trading on {exchange_id} needs API credentials: set {' and '.join(missing)} "
            "(or the same names with _FILE pointing at files holding them)"
        )
    config: dict[str, Any] = {"enableRateLimit": True, **dict(options or {})}
    config.update({field: secret.reveal() for field, secret in credentials.items()})
    exchange = cls(config)
    if sandbox:
        try:
            exchange.set_sandbox_mode(True)
        except Exception as exc:  # ccxt.NotSupported: the venue has no test environment
            raise InvalidArgument(f"{exchange_id} has no sandbox in ccxt: {exc}") from None
    return exchange
