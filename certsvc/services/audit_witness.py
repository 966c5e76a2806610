"""Where the audit chain is witnessed outside the database: an append-only file, and a URL.

Every signed checkpoint is appended, after its transaction commits, as one JSON line to
``CERTSVC_HOME/audit/checkpoints.jsonl`` together with the hashes of the entries it covers, and
optionally POSTed to ``CERTSVC_AUDIT_WITNESS_URL``. Someone who can rewrite the database but
not this file (another account, another disk, a write-once mount, a remote witness) cannot
delete checkpoints or rewrite witnessed entries without ``certsvc audit verify`` naming the
first entry that differs.

Appending after the commit means a crash in between leaves a checkpoint in the database that
the file lacks: verification tolerates that (it is the file that is behind); the reverse, a
witnessed checkpoint missing from the database, is tampering.
"""

from __future__ import annotations

import base64
import json
import logging
import os
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

__all__ = ["WitnessRecord", "append_witness", "read_witness", "send_to_witness", "witness_path"]

_log = logging.getLogger("certsvc.audit")
_WITNESS_TIMEOUT_SECONDS = 3.0


@dataclass(frozen=True, slots=True)
class WitnessRecord:
    """One checkpoint as witnessed: its signed message, signature and the entries it covers."""

    sequence: int
    message: bytes  # the signed checkpoint message, byte for byte
    signature: bytes
    entries: tuple[tuple[int, str], ...]  # (event id, entry hash) since the previous checkpoint

    def to_json(self) -> str:
        return json.dumps(
            {
                "sequence": self.sequence,
                "message": self.message.decode(),
                "signature": base64.b64encode(self.signature).decode(),
                "entries": [list(e) for e in self.entries],
            },
            separators=(",", ":"),
        )

    @staticmethod
    def from_json(line: str) -> WitnessRecord:
        data: dict[str, Any] = json.loads(line)
        return WitnessRecord(
            sequence=int(data["sequence"]),
            message=str(data["message"]).encode(),
            signature=base64.b64decode(data["signature"]),
            entries=tuple((int(i), str(h)) for i, h in data["entries"]),
        )


def witness_path(home: Path) -> Path:
    return home / "audit" / "checkpoints.jsonl"


def append_witness(home: Path, record: WitnessRecord) -> None:
    """Append one line and fsync it: the file only ever grows."""
    path = witness_path(home)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o640)
    try:
        os.write(fd, (record.to_json() + "\n").encode())
        os.fsync(fd)
    finally:
        os.close(fd)


def read_witness(home: Path) -> Iterator[WitnessRecord]:
    """The witnessed checkpoints in order; a torn last line (a crash mid-write) is skipped."""
    path = witness_path(home)
    if not path.exists():
        return
    with path.open(encoding="utf-8") as fh:
        for line in fh:
            if not line.endswith("\n"):
                return
            yield WitnessRecord.from_json(line)


def send_to_witness(url: str, record: WitnessRecord) -> bool:
    """POST the record to the witness; a failure is logged, never raised (the file is the fallback)."""
    request = urllib.request.Request(
        url,
        data=record.to_json().encode(),
        headers={"content-type": "application/json"},
        method="POST",
    )
    try:
        with urllib.request.urlopen(request, timeout=_WITNESS_TIMEOUT_SECONDS) as response:
            return bool(200 <= response.status < 300)
    except (urllib.error.URLError, OSError, ValueError) as exc:
        _log.warning("audit checkpoint %s not sent to the witness: %s", record.sequence, exc)
        return False
