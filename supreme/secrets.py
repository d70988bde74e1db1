"""Credentials from the environment or from files, kept out of every log line and repr.

``load_secret("SUPREME_BINANCE_API_KEY")`` reads the variable, or the file named by
``SUPREME_BINANCE_API_KEY_FILE`` (Docker and Kubernetes secrets are mounted as files), strips a
trailing newline, registers the value with the log redactor (:mod:`supreme.logs`) and returns
it wrapped in :class:`Secret`, whose ``repr`` and ``str`` never show it: only
:meth:`Secret.reveal` does, at the one place the value is handed to a library.
``venue_credentials("binance")`` loads the ``SUPREME_<VENUE>_API_KEY`` / ``_SECRET`` /
``_PASSWORD`` set for a ccxt exchange.
"""

from __future__ import annotations

import os
from pathlib import Path

from supreme.core.errors import InvalidArgument
from supreme.logs import register_secret

__all__ = ["Secret", "load_secret", "venue_credentials"]


class Secret:
    __slots__ = ("_name", "_value")

    def __init__(self, name: str, value: str) -> None:
        self._name = name
        self._value = value
        register_secret(value)

    def reveal(self) -> str:
        return self._value

    def __repr__(self) -> str:
        return f"Secret({self._name}=***)"

    __str__ = __repr__

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Secret) and other._value == self._value

    def __hash__(self) -> int:
        return hash(self._name)


def load_secret(name: str, *, required: bool = True) -> Secret | None:
    """The secret in ``$name``, or in the file named by ``$name_FILE``; both set is an error."""
    value = os.environ.get(name)
    file = os.environ.get(f"{name}_FILE")
    if value is not None and file is not None:
        raise InvalidArgument(f"set {name} or {name}_FILE, not both")
    if file is not None:
        try:
            value = Path(file).read_text().rstrip("\r\n")
        except OSError as exc:
            raise InvalidArgument(f"cannot read {name}_FILE ({file}): {exc.strerror}") from None
    if not value:
        if required:
            raise InvalidArgument(f"{name} (or {name}_FILE) is not set")
        return None
    return Secret(name, value)


def venue_credentials(venue: str) -> dict[str, Secret]:
    """The API credentials set for ``venue`` (ccxt's ``apiKey``, ``secret``, ``password``)."""
    prefix = f"SUPREME_{venue.upper().replace('-', '_')}"
    found = {
        field: load_secret(f"{prefix}_{suffix}", required=False)
        for field, suffix in (("apiKey", "API_KEY"), ("secret", "SECRET"), ("password", "PASSWORD"))
    }
    return {field: secret for field, secret in found.items() if secret is not None}
