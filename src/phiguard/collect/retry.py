"""Bounded retries with exponential backoff and full jitter for transient API errors."""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TypeVar

__all__ = ["RetryPolicy", "is_transient"]

T = TypeVar("T")

TRANSIENT_STATUS = frozenset({429, 500, 502, 503, 504})


def status_of(exc: BaseException) -> int | None:
    """The HTTP status of a google-api-core or googleapiclient error, if it carries one."""
    code = getattr(exc, "code", None)  # google.api_core.exceptions.GoogleAPICallError
    if isinstance(code, int):
        return code
    status = getattr(exc, "status_code", None)  # googleapiclient.errors.HttpError
    if isinstance(status, int):
        return status
    resp = getattr(exc, "resp", None)
    value = getattr(resp, "status", None)
    return int(value) if isinstance(value, int | str) and str(value).isdigit() else None


def is_transient(exc: BaseException) -> bool:
    """429 / 5xx answers, dropped connections and timeouts: worth another attempt."""
    status = status_of(exc)
    if status is not None:
        return status in TRANSIENT_STATUS
    try:
        import requests
    except ImportError:  # pragma: no cover
        return isinstance(exc, ConnectionError | TimeoutError)
    return isinstance(exc, requests.exceptions.RequestException | ConnectionError |
                      TimeoutError)


@dataclass(frozen=True)
class RetryPolicy:
    """At most `attempts` calls; before attempt n+1 sleep a random fraction of
    min(maximum, initial * multiplier**n) seconds ("full jitter")."""

    attempts: int = 6
    initial: float = 1.0
    maximum: float = 30.0
    multiplier: float = 2.0
    sleep: Callable[[float], None] = field(default=time.sleep, compare=False)
    rng: Callable[[], float] = field(default=random.random, compare=False)

    def delay(self, retry: int) -> float:
        return self.rng() * min(self.maximum, self.initial * self.multiplier ** retry)

    def call(self, fn: Callable[[], T], on_retry: Callable[[int, BaseException], None]
             | None = None) -> T:
        """fn(), retried on transient errors; the last error is raised when attempts run out."""
        retry = 0
        while True:
            try:
                return fn()
            except Exception as exc:
                if not is_transient(exc) or retry + 1 >= self.attempts:
                    raise
                if on_retry is not None:
                    on_retry(retry + 1, exc)
                self.sleep(self.delay(retry))
                retry += 1
