"""What every outbox sender shares: who is sending, how long to wait, one HTTP POST.

Webhooks (``services/webhooks.py``) and the upstream connector (``services/upstream.py``) write
their rows in the transaction of the change and deliver after the commit, each attempt under a
lease (``storage/outbox_lease.py``); this module is the sending half they have in common.
"""

from __future__ import annotations

import os
import secrets
import socket
import time
import urllib.error
import urllib.request
from dataclasses import dataclass

__all__ = ["PostResult", "post", "retry_delay", "sender_id"]

_MAX_ANSWER_BYTES = 64 * 1024


@dataclass(frozen=True, slots=True)
class PostResult:
    status: int | None  # None: no HTTP answer at all (refused, timed out, unresolvable)
    error: str | None
    elapsed_ms: int
    body: bytes = b""

    @property
    def is_success(self) -> bool:
        return self.status is not None and 200 <= self.status < 300


def sender_id() -> str:
    """A lease owner name: host, process and a random part (two senders in one process differ)."""
    return f"{socket.gethostname()[:30]}:{os.getpid()}:{secrets.token_hex(6)}"


def retry_delay(
    first_seconds: float, attempts_made: int, *, cap_seconds: float | None = None
) -> float:
    """Exponential back-off: ``first_seconds`` after the first failure, doubling after each next."""
    delay = first_seconds * float(2 ** max(attempts_made - 1, 0))
    return min(delay, cap_seconds) if cap_seconds is not None else delay


def post(url: str, body: bytes, *, headers: dict[str, str], timeout: float) -> PostResult:
    """POST ``body``; every outcome, an HTTP error or none at all, is a result, never an exception."""
    request = urllib.request.Request(url, data=body, method="POST", headers=headers)
    started = time.monotonic()
    answer = b""
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            status: int | None = int(response.status)
            answer = response.read(_MAX_ANSWER_BYTES)
            error = None
    except urllib.error.HTTPError as exc:
        status, error = exc.code, f"HTTP {exc.code}"
        try:
            answer = exc.read(_MAX_ANSWER_BYTES)
        except OSError:
            answer = b""
    except (urllib.error.URLError, OSError, ValueError) as exc:
        status, error = None, type(exc).__name__ + ": " + str(getattr(exc, "reason", exc))[:300]
    return PostResult(status, error, int((time.monotonic() - started) * 1000), answer)
