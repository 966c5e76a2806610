"""SM2 sign/verify throughput of certsvc.crypto.sm2 beside `openssl speed sm2` and ECDSA P-256.

Run: .venv/bin/python bench/sm2.py [--rounds 5] [--seconds 1.0]
Prints medians of several rounds and the ratio to the baselines measured in the same run.
"""

from __future__ import annotations

import argparse
import os
import platform
import re
import shutil
import statistics
import subprocess
import threading
import time
from collections.abc import Callable

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec

from certsvc.crypto import _sm2_openssl
from certsvc.crypto.sm2 import Sm2PrivateKey

MESSAGE = b"x" * 256  # a DER signedAttrs / TBS_Sign is a few hundred bytes


def _rate(op: Callable[[], object], seconds: float) -> float:
    n = 0
    deadline = time.perf_counter() + seconds
    start = time.perf_counter()
    while True:
        for _ in range(50):
            op()
        n += 50
        now = time.perf_counter()
        if now >= deadline:
            return n / (now - start)


def _median_rate(op: Callable[[], object], rounds: int, seconds: float) -> float:
    return statistics.median(_rate(op, seconds) for _ in range(rounds))


def _threaded_rate(op: Callable[[], object], threads: int, seconds: float) -> float:
    counts = [0] * threads

    def work(i: int) -> None:
        deadline = time.perf_counter() + seconds
        while time.perf_counter() < deadline:
            for _ in range(20):
                op()
            counts[i] += 20

    ts = [threading.Thread(target=work, args=(i,)) for i in range(threads)]
    start = time.perf_counter()
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    return sum(counts) / (time.perf_counter() - start)


def _openssl_speed() -> tuple[float, float] | None:
    if shutil.which("openssl") is None:
        return None
    out = subprocess.run(
        ["openssl", "speed", "-seconds", "3", "sm2"], capture_output=True, text=True, timeout=120
    ).stdout
    # " 256 bits SM2 (CurveSM2)   0.0002s   0.0002s   4295.0   4685.3"
    m = re.search(r"SM2 \(CurveSM2\)\s+\S+\s+\S+\s+([\d.]+)\s+([\d.]+)", out)
    return (float(m.group(1)), float(m.group(2))) if m else None


def _cpu_model() -> str:
    try:
        with open("/proc/cpuinfo", encoding="ascii", errors="replace") as fh:
            for line in fh:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--seconds", type=float, default=1.0)
    args = ap.parse_args()

    print(f"machine : {_cpu_model()}, nproc={os.cpu_count()}, {platform.platform()}")
    print(f"python  : {platform.python_version()}; libcrypto: {_sm2_openssl.openssl_version()}")
    print(f"method  : median of {args.rounds} rounds x {args.seconds}s, message {len(MESSAGE)} B")
    print()

    key = Sm2PrivateKey.generate()
    pub = key.public_key()
    sig = key.sign(MESSAGE)
    sm2_sign = _median_rate(lambda: key.sign(MESSAGE), args.rounds, args.seconds)
    sm2_verify = _median_rate(lambda: pub.verify(sig, MESSAGE), args.rounds, args.seconds)
    threads = os.cpu_count() or 1
    sm2_sign_mt = _threaded_rate(lambda: key.sign(MESSAGE), threads, args.seconds * 2)

    p256 = ec.generate_private_key(ec.SECP256R1())
    p256_pub = p256.public_key()
    p256_sig = p256.sign(MESSAGE, ec.ECDSA(hashes.SHA256()))
    ecdsa_sign = _median_rate(
        lambda: p256.sign(MESSAGE, ec.ECDSA(hashes.SHA256())), args.rounds, args.seconds
    )
    ecdsa_verify = _median_rate(
        lambda: p256_pub.verify(p256_sig, MESSAGE, ec.ECDSA(hashes.SHA256())),
        args.rounds,
        args.seconds,
    )
    speed = _openssl_speed()

    print(f"{'implementation':<52}{'sign/s':>10}{'verify/s':>10}")
    print(
        f"{'certsvc SM2 (ctypes -> libcrypto, SM3, default ID)':<52}"
        f"{sm2_sign:>10.0f}{sm2_verify:>10.0f}"
    )
    print(
        f"{f'certsvc SM2 sign, {threads} threads (GIL released)':<52}{sm2_sign_mt:>10.0f}{'':>10}"
    )
    if speed:
        print(f"{'openssl speed -seconds 3 sm2 (1 thread)':<52}{speed[0]:>10.0f}{speed[1]:>10.0f}")
    else:
        print("openssl speed: not available")
    print(
        f"{'pyca/cryptography ECDSA P-256 + SHA-256':<52}{ecdsa_sign:>10.0f}{ecdsa_verify:>10.0f}"
    )
    print()
    if speed:
        print(
            f"ratio certsvc/openssl-speed : sign {sm2_sign / speed[0]:.2f}x, "
            f"verify {sm2_verify / speed[1]:.2f}x"
        )
    print(
        f"ratio certsvc-SM2/ECDSA-P256: sign {sm2_sign / ecdsa_sign:.2f}x, "
        f"verify {sm2_verify / ecdsa_verify:.2f}x"
    )


if __name__ == "__main__":
    main()
