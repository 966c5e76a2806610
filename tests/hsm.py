"""A SoftHSM2 token for the tests: made once per session in a temporary directory.

``SOFTHSM2_CONF`` points SoftHSM2 at a configuration whose token directory is the temporary
one, so the tests never see (or change) a token of the machine; batch workers started by the
tests inherit the variable.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

__all__ = ["SOFTHSM_MODULE", "SoftHsm", "make_softhsm"]

# Debian's softhsm2 package (installed by `make install`).
SOFTHSM_MODULE = Path("/usr/lib/softhsm/libsofthsm2.so")


@dataclass(frozen=True)
class SoftHsm:
    module: Path
    conf: Path
    token_dir: Path
    token_label: str
    pin: str
    # A second token a test may take away (delete); made with the first, since SoftHSM2 lists
    # its tokens when a process loads it.
    spare_label: str = "certsvc-spare"

    def util(self, *args: str) -> subprocess.CompletedProcess[str]:
        """Run ``softhsm2-util`` on this token's configuration."""
        return subprocess.run(
            ["softhsm2-util", *args], env={**os.environ, "SOFTHSM2_CONF": str(self.conf)},
            check=True, capture_output=True, text=True,
        )  # fmt: skip


def make_softhsm(root: Path, *, token_label: str = "certsvc-test", pin: str = "246810") -> SoftHsm:
    """Initialise a token under ``root`` (the caller sets ``SOFTHSM2_CONF`` to ``conf``)."""
    if shutil.which("softhsm2-util") is None or not SOFTHSM_MODULE.is_file():
        raise RuntimeError("SoftHSM2 is missing: run `make install` (Debian package softhsm2)")
    token_dir = root / "tokens"
    token_dir.mkdir(parents=True)
    conf = root / "softhsm2.conf"
    conf.write_text(f"directories.tokendir = {token_dir}\nobjectstore.backend = file\nlog.level = ERROR\n")
    hsm = SoftHsm(module=SOFTHSM_MODULE, conf=conf, token_dir=token_dir, token_label=token_label, pin=pin)
    for label in (token_label, hsm.spare_label):
        hsm.util("--init-token", "--free", "--label", label, "--so-pin", "13579246", "--pin", pin)
    return hsm
