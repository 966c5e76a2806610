"""Time-stamps and long-term validation: what B-LTA costs, and the built-in TSA's rate.

1. Issuance of the same licence with ``CERTSVC_PADES_LEVEL=B-B`` and ``B-LTA`` (built-in TSA,
   in-process), ECDSA and SM2 departments, same run, same home, the two sides alternated:
   ratio of the medians B-LTA / B-B.
2. The built-in TSA answering a DER request (parse, TSTInfo, CMS, sign): tokens per second for
   ECDSA P-256 and SM2, beside ``openssl speed`` signatures per second of the same algorithm.

    .venv/bin/python bench/ltv.py [N]
"""

from __future__ import annotations

import itertools
import json
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench._machine import machine, median_ms, timed
from certsvc.config import load_settings
from certsvc.services.context import build_context
from certsvc.services.demo_departments import DEMO_DEPARTMENTS
from certsvc.services.embedded_init import init_embedded
from certsvc.services.issuance import IssuanceService
from certsvc.services.principals import Principal, Role
from certsvc.services.provisioning import department_by_code
from certsvc.services.requests import parse_issue_request

ROOT = Path(__file__).resolve().parent.parent


def _openssl_signs_per_second(algorithm: str) -> float:
    out = subprocess.run(["openssl", "speed", "-seconds", "2", algorithm], capture_output=True, text=True).stdout
    # The result line: "<bits> <curve> (<name>)   <sign s>  <verify s>  <sign/s>  <verify/s>"
    for line in out.splitlines()[::-1]:
        numbers = re.findall(r"\d+\.\d+", line)
        if len(numbers) >= 4:
            return float(numbers[-2])
    return float("nan")


def main(n: int = 20) -> None:
    home = Path(tempfile.mkdtemp(prefix="certsvc-bench-ltv-"))
    lta = build_context(load_settings(home=home, public_url="https://certsvc.example.gov.cn"))
    init_embedded(lta)
    bb = build_context(load_settings(home=home, public_url="https://certsvc.example.gov.cn", pades_level="B-B"), migrate=False)
    request = parse_issue_request(json.loads((ROOT / "templates/food-business-licence/sample.json").read_text()))
    print(f"machine: {machine()}")
    print(f"N = {n} per figure, medians in ms")
    print("algorithm | issue B-B ms | issue B-LTA ms | ratio")
    numbered = (
        request.model_copy(update={"fields": {**request.fields, "licence_number": f"JY1{i:013d}"}}) for i in itertools.count()
    )
    # The ECDSA and the SM2 food-licensing bureaus of the demo deployment (as bench/issue.py).
    for demo in (d for d in DEMO_DEPARTMENTS if d.code in ("11152500011512829G", "11152502011513952P")):
        with lta.database.read() as session:
            department = department_by_code(session, demo.code)
            principal = Principal(client_id=0, name="bench", role=Role.ISSUER, department_id=department.id, department_code=demo.code)
        services = {"B-B": IssuanceService(bb), "B-LTA": IssuanceService(lta)}
        samples: dict[str, list[float]] = {label: [] for label in services}
        for service in services.values():
            service.issue(next(numbered), principal=principal)  # warm: keys, appearance, TSA token size
        # Alternated, so that a burst of other work on the shared machine hits both sides alike.
        for _ in range(n):
            for label, service in services.items():
                one = next(numbered)  # one licence per number and department
                samples[label].append(timed(lambda: service.issue(one, principal=principal)))
        figures = {label: median_ms(values) for label, values in samples.items()}
        print(f"{demo.algorithm.value} | {figures['B-B']:.1f} | {figures['B-LTA']:.1f} | {figures['B-LTA'] / figures['B-B']:.2f}")

    tsa = lta.built_in_tsa()
    from asn1crypto import tsp

    print("TSA | tokens/s | openssl speed sign/s | ratio")
    for md, name, speed in (("sha256", "ecdsa-p256", "ecdsap256"), ("sm3", "sm2", "sm2")):
        req = tsp.TimeStampReq(
            {"version": "v1", "message_imprint": {"hash_algorithm": {"algorithm": md}, "hashed_message": bytes(32)}, "nonce": 7, "cert_req": True}
        ).dump()
        count, start = 0, time.perf_counter()
        while time.perf_counter() - start < 2.0:
            tsa.respond(req)
            count += 1
        rate = count / (time.perf_counter() - start)
        reference = _openssl_signs_per_second(speed)
        print(f"{name} | {rate:.0f} | {reference:.0f} | {rate / reference:.2f}")


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 20)
