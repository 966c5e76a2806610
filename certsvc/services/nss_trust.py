"""An NSS certificate database that trusts this deployment's roots, for ``pdfsig -nssdir``.

poppler's ``pdfsig`` checks a signer's chain against an NSS database only; ``certutil``
(libnss3-tools) makes one. Certificates are public, so the database has an empty password.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

from certsvc.errors import BadRequestError, CertsvcError, ConfigurationError
from certsvc.services.context import ServiceContext

__all__ = ["write_nss_database"]

# C: a trusted CA for TLS servers, C for e-mail, C for object signing (pdfsig reads the last).
_TRUST_FLAGS = "C,C,C"


def _certutil(*args: str) -> None:
    tool = shutil.which("certutil")
    if tool is None:
        raise ConfigurationError(
            "certutil is missing: install libnss3-tools (make install does)",
            code="certutil_missing",
        )
    done = subprocess.run([tool, *args], capture_output=True, text=True, check=False, timeout=60)
    if done.returncode != 0:
        raise CertsvcError(
            f"certutil failed: {done.stderr.strip() or done.stdout.strip()}",
            code="nss_database_failed",
        )


def write_nss_database(ctx: ServiceContext, directory: Path) -> list[str]:
    """Create (or add to) the NSS database in ``directory``; the nicknames of the roots now trusted.

    Raises:
        BadRequestError: ``directory`` exists and is not a directory, or the deployment has no roots.
        ConfigurationError: certutil is not installed.
        CertsvcError: certutil refused (code ``nss_database_failed``).
    """
    roots = sorted(ctx.trust_roots_dir.glob("*.der")) if ctx.trust_roots_dir.is_dir() else []
    if not roots:
        raise BadRequestError(
            "this deployment has no trust roots: run `certsvc init` first", code="no_trust_roots"
        )
    if directory.exists() and not directory.is_dir():
        raise BadRequestError(f"{directory} is not a directory", code="not_a_directory")
    directory.mkdir(parents=True, exist_ok=True)
    database = f"sql:{directory.resolve()}"
    if not (directory / "cert9.db").exists():
        _certutil("-N", "-d", database, "--empty-password")
    names = []
    for root in roots:
        name = f"certsvc {root.stem}"
        _certutil("-A", "-d", database, "-n", name, "-t", _TRUST_FLAGS, "-i", str(root))
        names.append(name)
    return names
