"""Start-up time of the ``certsvc`` command: ``--help``, sub-commands' ``--help``, a quick command.

Baselines in the same run: the same ``--help`` after importing the service modules the CLI
loaded eagerly before its imports moved into the commands (what every invocation used to pay),
the ``--help`` of an older commit exported with ``git archive`` (``--baseline REV``), and a
bare ``python -c pass`` (the floor no CLI can go under). Then what ``--help`` imports: the
heaviest modules (``python -X importtime``) and whether any service library is among them.

    .venv/bin/python bench/cli_startup.py [--runs 15] [--baseline REV]
"""

from __future__ import annotations

import argparse
import io
import os
import statistics
import subprocess
import sys
import tarfile
import tempfile
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
_HELP = "import sys; sys.argv = ['certsvc', '--help']; from certsvc_cli.main import main; main()"
COMMANDS = {
    "certsvc --help": [CERTSVC, "--help"],
    "certsvc batch import --help": [CERTSVC, "batch", "import", "--help"],
    "certsvc wait --help": [CERTSVC, "wait", "--help"],
    "certsvc verify-qr --help": [CERTSVC, "verify-qr", "--help"],
    "baseline: --help after the eager imports": [sys.executable, "-c", _EAGER],
    "floor: python -c pass": [sys.executable, "-c", "pass"],
}
_SERVICE_LIBRARIES = ("sqlalchemy", "reportlab", "pyhanko", "cryptography", "fastapi", "certsvc.services", "http.client")


def _once(argv: list[str], env: dict[str, str] | None = None) -> float:
    start = time.perf_counter()
    subprocess.run(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=True, env=env)
    return time.perf_counter() - start


def _older_help(rev: str) -> tuple[list[str], dict[str, str]]:
    """``certsvc --help`` of commit ``rev``: its tree exported, ``cli/`` importable as ``certsvc_cli``."""
    root = Path(tempfile.mkdtemp(prefix="certsvc-baseline-"))
    archive = subprocess.run(["git", "-C", str(Path(__file__).resolve().parent.parent), "archive", rev],
                             check=True, capture_output=True).stdout  # fmt: skip
    with tarfile.open(fileobj=io.BytesIO(archive)) as tar:
        tar.extractall(root, filter="data")
    packages = root / "_packages"
    packages.mkdir()
    (packages / "certsvc_cli").symlink_to(root / "cli")
    return [sys.executable, "-c", _HELP], {**os.environ, "PYTHONPATH": f"{root}:{packages}"}


def _imports_of_help() -> None:
    trace = subprocess.run([sys.executable, "-X", "importtime", "-c", _HELP], capture_output=True, text=True,
                           check=True).stderr  # fmt: skip
    rows = []  # (cumulative µs, module, imported directly by the command)
    for line in trace.splitlines()[1:]:
        _, _self_us, cumulative_us, raw_name = line.replace("import time:", "|").split("|")
        name = raw_name.strip()
        rows.append((int(cumulative_us), name, len(raw_name) - len(raw_name.lstrip()) <= 3))
    loaded = {name for _, name, _ in rows}
    print(f"--help imports {len(loaded)} modules; service libraries among them: "
          + (", ".join(sorted(lib for lib in _SERVICE_LIBRARIES if lib in loaded)) or "none"))  # fmt: skip
    top = sorted(((us, name) for us, name, direct in rows if direct), reverse=True)[:8]
    print("heaviest direct imports (cumulative): " + ", ".join(f"{name} {us / 1000:.0f} ms" for us, name in top))


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=15)
    parser.add_argument("--baseline", default="945e101", help="older commit whose --help is timed beside")
    args = parser.parse_args()
    runs = args.runs
    print(machine())
    commands: dict[str, tuple[list[str], dict[str, str] | None]] = {n: (a, None) for n, a in COMMANDS.items()}
    commands["certsvc --help, started as the older commit's is"] = ([sys.executable, "-c", _HELP], None)
    commands[f"baseline: --help of {args.baseline}"] = _older_help(args.baseline)
    for argv, env in commands.values():
        _once(argv, env)  # warm the page cache and .pyc files
    samples: dict[str, list[float]] = {name: [] for name in commands}
    for _ in range(runs):  # interleaved, so load changes hit every command alike
        for name, (argv, env) in commands.items():
            samples[name].append(_once(argv, env))
    medians = {name: statistics.median(values) * 1000 for name, values in samples.items()}
    baseline = medians["baseline: --help after the eager imports"]
    older = medians[f"baseline: --help of {args.baseline}"]
    print(f"{'command':52} {'median':>9} {'÷ eager':>8} {'÷ ' + args.baseline:>12}")
    for name, value in medians.items():
        print(f"{name:52} {value:7.0f} ms {value / baseline:8.2f} {value / older:12.2f}")
    _imports_of_help()


if __name__ == "__main__":
    main()
