"""Start-up time of the ``certsvc`` command: ``--help`` and a sub-command's ``--help``.

Baseline in the same run: the same ``--help`` after importing the service modules the CLI
loaded eagerly before its imports moved into the commands (what every invocation used to pay),
and a bare ``python -c pass`` (the floor no CLI can go under).

    .venv/bin/python bench/cli_startup.py [--runs 15]
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench._machine import machine

CERTSVC = str(Path(sys.executable).with_name("certsvc"))
_EAGER = (
    "import sys; "
    "import certsvc.config, certsvc.services.context, certsvc.services.issuance, certsvc.services.registry, "
    "certsvc.services.verification, certsvc.services.batch, certsvc.services.stats, certsvc.services.seal_admin, "
    "certsvc.services.lifecycle, certsvc.services.templates, certsvc.services.qr, certsvc.services.trust, "
    "certsvc.services.audit, certsvc.services.licence_types; "
    "from certsvc_cli.main import main; sys.argv = ['certsvc', '--help']; main()"
)
COMMANDS = {
    "certsvc --help": [CERTSVC, "--help"],
    "certsvc batch import --help": [CERTSVC, "batch", "import", "--help"],
    "baseline: --help after the eager imports": [sys.executable, "-c", _EAGER],
    "floor: python -c pass": [sys.executable, "-c", "pass"],
}


def _once(argv: list[str]) -> float:
    start = time.perf_counter()
    subprocess.run(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=True)
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=15)
    runs = parser.parse_args().runs
    print(machine())
    for argv in COMMANDS.values():
        _once(argv)  # warm the page cache and .pyc files
    samples: dict[str, list[float]] = {name: [] for name in COMMANDS}
    for _ in range(runs):  # interleaved, so load changes hit every command alike
        for name, argv in COMMANDS.items():
            samples[name].append(_once(argv))
    medians = {name: statistics.median(values) * 1000 for name, values in samples.items()}
    baseline = medians["baseline: --help after the eager imports"]
    print(f"{'command':45} {'median':>9} {'÷ baseline':>11}")
    for name, value in medians.items():
        print(f"{name:45} {value:7.0f} ms {value / baseline:11.2f}")


if __name__ == "__main__":
    main()
