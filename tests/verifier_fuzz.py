"""Mutated and malformed files through the verifiers, in a child process with a memory cap.

``python -m tests.verifier_fuzz HOME SEED N`` verifies N mutations of an issued PDF (through
``VerificationService.verify_pdf``, what ``POST /api/v1/verify`` runs) and N/2 of a sealed OFD
(``crypto.validate_ofd``), and prints one JSON summary. Run as a child so that a hang is a
timeout, a crash in native code (libcrypto through ctypes, zlib, Pillow) is a dead process, and
memory is bounded by ``RLIMIT_AS`` instead of taking the machine down.
"""

from __future__ import annotations

import io
import json
import random
import re
import resource
import sys
import time
import traceback
import zipfile
from collections.abc import Callable
from pathlib import Path

from certsvc.config import load_settings
from certsvc.errors import CertsvcError, DocumentTooLargeError, InvalidDocumentError

__all__ = ["MEMORY_LIMIT_BYTES", "mutate_ofd", "mutate_pdf"]

MEMORY_LIMIT_BYTES = 2 * 1024**3  # address space of the child: the verifier must stay well below
_REFUSALS = (InvalidDocumentError, DocumentTooLargeError)  # answered 4xx: a refusal, not a crash

Mutator = Callable[[bytes, random.Random], bytes]


def _flip(data: bytes, rnd: random.Random) -> bytes:
    out = bytearray(data)
    for _ in range(rnd.randint(1, 20)):
        out[rnd.randrange(len(out))] = rnd.randrange(256)
    return bytes(out)


def _truncate(data: bytes, rnd: random.Random) -> bytes:
    return data[: rnd.randrange(len(data))]


def _delete(data: bytes, rnd: random.Random) -> bytes:
    start = rnd.randrange(len(data))
    return data[:start] + data[start + rnd.randint(1, 4096) :]


def _duplicate(data: bytes, rnd: random.Random) -> bytes:
    start = rnd.randrange(len(data))
    chunk = data[start : start + rnd.randint(1, 8192)]
    at = rnd.randrange(len(data))
    return data[:at] + chunk * rnd.randint(1, 4) + data[at:]


def _insert_noise(data: bytes, rnd: random.Random) -> bytes:
    at = rnd.randrange(len(data))
    return data[:at] + rnd.randbytes(rnd.randint(1, 2048)) + data[at:]


_NUMBER = re.compile(rb"(?<![\w.])\d+(?![\w.])")
_HOSTILE_NUMBERS = [b"0", b"-1", b"99999999999999999999", b"2147483648", b"9223372036854775808", b"1e308", b"00000"]


def _numbers(data: bytes, rnd: random.Random) -> bytes:
    # Object numbers, /Length, /ByteRange, xref offsets: the integers a parser trusts.
    spans = [m.span() for m in _NUMBER.finditer(data)]
    out = data
    for start, end in sorted(rnd.sample(spans, min(len(spans), rnd.randint(1, 8))), reverse=True):
        out = out[:start] + rnd.choice(_HOSTILE_NUMBERS) + out[end:]
    return out


_KEYWORDS = [b"obj", b"endobj", b"stream", b"endstream", b"xref", b"trailer", b"startxref", b"/ByteRange", b"/Contents"]


def _keywords(data: bytes, rnd: random.Random) -> bytes:
    keyword = rnd.choice(_KEYWORDS)
    positions = [m.start() for m in re.finditer(re.escape(keyword), data)]
    if not positions:
        return data
    at = rnd.choice(positions)
    return data[:at] + rnd.choice([b"", b"XX", keyword * 2, b"<<", b"]"]) + data[at + len(keyword) :]


def _nesting(data: bytes, rnd: random.Random) -> bytes:
    # Deep nesting (arrays, dictionaries) makes recursive parsers overflow the stack.
    depth = rnd.choice([1000, 10_000, 100_000])
    at = rnd.randrange(len(data))
    return data[:at] + rnd.choice([b"[", b"<<", b"<< /A "]) * depth + data[at:]


def _garbage_pdf(data: bytes, rnd: random.Random) -> bytes:
    return b"%PDF-1.7\n" + rnd.randbytes(rnd.randint(0, 65536))


_PDF_MUTATORS: list[Mutator] = [
    _flip, _truncate, _delete, _duplicate, _insert_noise, _numbers, _keywords, _nesting, _garbage_pdf,
]


def mutate_pdf(data: bytes, rnd: random.Random) -> bytes:
    out = data
    for _ in range(rnd.choice([1, 1, 1, 2, 3])):
        out = rnd.choice(_PDF_MUTATORS)(out, rnd)
    return out


_XML_BOMBS = [
    b'<?xml version="1.0"?><!DOCTYPE a [<!ENTITY b "bbbbbbbbbb"><!ENTITY c "&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;">'
    b'<!ENTITY d "&c;&c;&c;&c;&c;&c;&c;&c;&c;&c;"><!ENTITY e "&d;&d;&d;&d;&d;&d;&d;&d;&d;&d;">]><a>&e;&e;&e;</a>',
    b'<?xml version="1.0"?><!DOCTYPE a [<!ENTITY x SYSTEM "file:///etc/passwd">]><a>&x;</a>',
    b"<a>" * 50_000 + b"</a>" * 50_000,
    b"<ofd:OFD xmlns:ofd='http://www.ofdspec.org/2016'><ofd:DocBody>",
    b"\xff\xfe\x00<",
]


def _zip_entry(data: bytes, rnd: random.Random) -> bytes:
    # Entry-level damage inside a well-formed ZIP: the XML parsers and the reference checks.
    with zipfile.ZipFile(io.BytesIO(data)) as src:
        entries = {i.filename: src.read(i) for i in src.infolist()}
    name = rnd.choice(sorted(entries))
    choice = rnd.randrange(4)
    if choice == 0:
        entries[name] = rnd.choice(_XML_BOMBS)
    elif choice == 1:
        entries[name] = _flip(entries[name], rnd) if entries[name] else b"x"
    elif choice == 2:
        del entries[name]
    else:
        entries[f"../{name}" if rnd.random() < 0.5 else f"/abs/{name}"] = entries[name]
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as dst:
        for entry, body in entries.items():
            dst.writestr(entry, body)
    return out.getvalue()


def _zip_bomb(data: bytes, rnd: random.Random) -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as dst:
        dst.writestr("OFD.xml", b"\x00" * (rnd.choice([16, 64]) * 1024 * 1024))
    return out.getvalue()


def mutate_ofd(data: bytes, rnd: random.Random) -> bytes:
    return rnd.choice([_flip, _truncate, _insert_noise, _zip_entry, _zip_entry, _zip_bomb])(data, rnd)


def _run(cases: list[tuple[str, bytes]], verify: Callable[[bytes], object]) -> tuple[list[str], float]:
    crashes: list[str] = []
    slowest = 0.0
    for label, data in cases:
        started = time.monotonic()
        try:
            verify(data)
        except _REFUSALS:
            pass
        except CertsvcError as exc:
            crashes.append(f"{label}: {type(exc).__name__} {exc.code}: {exc.message}")
        except Exception as exc:  # exactly what this test looks for
            crashes.append(f"{label}: {type(exc).__name__}: {exc}\n{traceback.format_exc(limit=-3)}")
        slowest = max(slowest, time.monotonic() - started)
    return crashes, slowest


def main(home: str, seed: int, count: int) -> dict[str, object]:
    resource.setrlimit(resource.RLIMIT_AS, (MEMORY_LIMIT_BYTES, MEMORY_LIMIT_BYTES))
    from certsvc.crypto.api import validate_ofd
    from certsvc.services.context import build_context
    from certsvc.services.verification import VerificationService
    from tests.crypto.ofd_fixtures import now, sealed_ofd
    from tests.sm2_pki import build_sm2_pki

    ctx = build_context(load_settings(home=Path(home), public_rate_limit_per_minute=0), migrate=False)
    service = VerificationService(ctx)
    rnd = random.Random(seed)
    seeds = [p.read_bytes() for p in sorted(Path(home, "fuzz-seeds").glob("*.pdf"))]
    pdf_cases = [(f"pdf #{i}", mutate_pdf(rnd.choice(seeds), rnd)) for i in range(count)]
    pdf_crashes, pdf_slowest = _run(pdf_cases, service.verify_pdf)

    pki = build_sm2_pki()
    ofd = sealed_ofd(pki, "food-business-licence").data
    ofd_cases = [(f"ofd #{i}", mutate_ofd(ofd, rnd)) for i in range(count // 2)]

    def verify_ofd(data: bytes) -> object:
        return validate_ofd(
            data,
            trust_roots_der=[pki.root.cert_der],
            maker_certificates_der=[pki.intermediate.cert_der],
            validation_time=now(),
            max_bytes=ctx.settings.max_upload_bytes,
        )

    ofd_crashes, ofd_slowest = _run(ofd_cases, verify_ofd)
    return {
        "cases": len(pdf_cases) + len(ofd_cases),
        "crashes": pdf_crashes + ofd_crashes,
        "slowest_seconds": round(max(pdf_slowest, ofd_slowest), 2),
        "max_rss_bytes": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024,
    }


if __name__ == "__main__":
    print(json.dumps(main(sys.argv[1], int(sys.argv[2]), int(sys.argv[3]))))
