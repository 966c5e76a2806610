"""Bilingual licence benchmark: render time of the Mongolian-and-Chinese layout vs the Chinese one.

Both are measured in the same run on the same machine, interleaved, with the same sample, the
same department and a seal image of the same size; the only difference is the department's
Mongolian name, which selects the template's ``bilingual.json`` (shaped Mongolian text, its
embedded font subset and the ActualText layer; in the OFD, the glyph outlines as paths over an
invisible text layer in the embedded font). The goal is a ratio ≤ 1.3×. Shaping results are
cached per string (as in a running service, where a department's name repeats), so the figure
is the steady state; the first-render cost of loading the Mongolian font is printed apart.

    .venv/bin/python bench/bilingual.py [--repeat 40]
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from certsvc.rendering.bilingual_seals import draw_bilingual_round_seal
from certsvc.rendering.ofd import render_ofd
from certsvc.rendering.renderer import LicenceContent, render_licence
from certsvc.rendering.templates import LicenceTemplate, TemplateRegistry
from certsvc.services.provisioning import DEMO_DEPARTMENTS
from tests.rendering.conftest import content_for

SLUGS = ("food-business-licence", "administrative-licensing-decision")


def _cpu_model() -> str:
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            return line.split(":", 1)[1].strip()
    return platform.processor() or "unknown"


def _time(template: LicenceTemplate, content: LicenceContent, seal: bytes) -> float:
    start = time.perf_counter()
    render_licence(template, content, seal_image_png=seal)
    return time.perf_counter() - start


def _time_ofd(template: LicenceTemplate, content: LicenceContent, _seal: bytes) -> float:
    start = time.perf_counter()
    render_ofd(template, content)
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=40)
    args = parser.parse_args()
    department = next(d for d in DEMO_DEPARTMENTS if d.name_mn)
    assert department.name_mn is not None
    registry = TemplateRegistry.load(ROOT / "templates")
    seal = draw_bilingual_round_seal(department_name=department.name, department_name_mn=department.name_mn)

    start = time.perf_counter()
    first = registry.get(SLUGS[0])
    render_licence(first, content_for(first, department_name=department.name, department_name_mn=department.name_mn), seal_image_png=seal)
    cold = time.perf_counter() - start

    print(f"machine: {_cpu_model()}, {os.cpu_count()} CPUs, Python {platform.python_version()}")
    print(f"department: {department.name} / {department.name_mn}")
    print(f"first bilingual render in the process (loads and shapes): {cold * 1000:.1f} ms")
    for output, timer in (("PDF (electronic + print)", _time), ("OFD (unsealed)", _time_ofd)):
        print(f"{output:36} {'Chinese ms':>11} {'bilingual ms':>13} {'ratio':>7}")
        for slug in SLUGS:
            template = registry.get(slug)
            chinese = content_for(template, department_name=department.name)
            bilingual = content_for(template, department_name=department.name, department_name_mn=department.name_mn)
            for _ in range(3):  # warm both paths
                timer(template, chinese, seal)
                timer(template, bilingual, seal)
            chinese_times, bilingual_times = [], []
            for _ in range(args.repeat):  # interleaved, so machine load hits both alike
                chinese_times.append(timer(template, chinese, seal))
                bilingual_times.append(timer(template, bilingual, seal))
            zh, mn = statistics.median(chinese_times), statistics.median(bilingual_times)
            print(f"  {slug:34} {zh * 1000:11.1f} {mn * 1000:13.1f} {mn / zh:6.2f}×")


if __name__ == "__main__":
    main()
