"""A lower layer telling the layers above it that something happened, without importing them.

The import layers (pyproject.toml) let an app use only the apps below it. When a lower app must cause work in a
higher one (ingest → rating, rating → credits), the lower app declares a `Hook` and calls it; the higher app
connects a receiver from its `AppConfig.ready()`. Receivers run synchronously in the caller's transaction, in
the order they connected; a receiver that wants to run later uses `transaction.on_commit` itself. Unlike Django's
model signals, nothing fires implicitly: each hook is one named call in one service."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any


class Hook:
    def __init__(self, name: str) -> None:
        self.name = name
        self._receivers: list[Callable[..., Any]] = []

    def connect(self, receiver: Callable[..., Any]) -> None:
        if receiver not in self._receivers:  # ready() may run more than once (tests, autoreload)
            self._receivers.append(receiver)

    def send(self, **kwargs: Any) -> None:
        for receiver in self._receivers:
            receiver(**kwargs)

    def __repr__(self) -> str:
        return f"Hook({self.name!r}, receivers={len(self._receivers)})"
