"""certsvc serve caps glibc's malloc arenas; an operator's own MALLOC_ARENA_MAX is kept."""

from __future__ import annotations

import os
import subprocess
import sys

_PROBE = (
    "import os\n"
    "from certsvc.api.allocator import limit_malloc_arenas\n"
    "print(limit_malloc_arenas(), os.environ['MALLOC_ARENA_MAX'])\n"
)


def _probe(**env: str) -> str:
    clean = {k: v for k, v in os.environ.items() if k != "MALLOC_ARENA_MAX"}
    done = subprocess.run([sys.executable, "-c", _PROBE], env={**clean, **env}, capture_output=True, text=True, check=True)
    return done.stdout.strip()


def test_the_cap_is_set_in_the_process_and_for_its_children() -> None:
    # glibc (this project's platform): mallopt accepts it.
    assert _probe() == "True 2"


def test_an_operators_setting_wins() -> None:
    assert _probe(MALLOC_ARENA_MAX="6") == "True 6"
