"""``certsvc wait``: block until a running certsvc answers ready, for scripts and the README tour."""

from __future__ import annotations

import json
import sys
import time
from typing import Annotated

import typer

__all__ = ["wait"]


def _ready(url: str) -> tuple[bool, str]:
    """(ready, what was seen) for one GET of ``url``."""
    import urllib.error  # here, not at the top: http.client is ~60 ms of every `certsvc` start
    import urllib.request

    try:
        with urllib.request.urlopen(url, timeout=5) as response:
            body = json.loads(response.read() or b"{}")
            return body.get("status") == "ready", f"HTTP {response.status}"
    except urllib.error.HTTPError as exc:  # 503 while a check fails: say which
        return False, f"HTTP {exc.code}"
    except (urllib.error.URLError, OSError, ValueError) as exc:
        return False, str(getattr(exc, "reason", exc))


def wait(
    url: Annotated[str, typer.Option(help="the service's base URL")] = "http://127.0.0.1:8000",
    timeout: Annotated[float, typer.Option(min=0, help="give up after this many seconds")] = 300.0,
    interval: Annotated[float, typer.Option(min=0.05, help="seconds between tries")] = 0.5,
) -> None:
    """Wait until the service at --url answers ready on /readyz (then `certsvc init` has finished)."""
    deadline = time.monotonic() + timeout
    target = url.rstrip("/") + "/readyz"
    if not target.startswith(("http://", "https://")):
        typer.echo(f"error [bad_request]: --url must be http:// or https://, not {url!r}", err=True)
        sys.exit(2)
    seen = ""
    while True:
        is_ready, seen = _ready(target)
        if is_ready:
            typer.echo(f"ready: {target}")
            return
        if time.monotonic() >= deadline:
            typer.echo(f"not ready after {timeout:g} s: {target} ({seen})", err=True)
            sys.exit(1)
        time.sleep(interval)
