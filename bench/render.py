"""Render benchmark: median time per licence, per template, beside a bare reportlab page.

The baseline is measured in the same run on the same machine: one reportlab canvas with the
same text in the same embedded TrueType fonts (labels in 宋体, values in 楷体) and nothing else —
no layout, no wrapping checks, no QR code, no seal, no metadata. ``render_licence`` produces
*two* PDFs (electronic + print), so a ratio near 2 means the licence machinery itself is cheap.

    .venv/bin/python bench/render.py [--repeat 50] [--baseline REV [--rounds 3]]

With ``--baseline REV`` it times each template's licence instead against the code of commit
``REV`` (exported with ``git archive``), both sides in child processes that alternate round by
round; the figure is the median over rounds of each round's median.
"""

from __future__ import annotations

import argparse
import functools
import io
import os
import platform
import statistics
import sys
import time
from collections.abc import Callable
from datetime import date
from pathlib import Path

# A baseline run points this at an exported older tree (``--baseline``).
ROOT = Path(os.environ.get("CERTSVC_BENCH_ROOT") or Path(__file__).resolve().parents[1])
sys.path.insert(0, str(ROOT))

import reportlab
from reportlab.pdfgen.canvas import Canvas

from certsvc.domain.identifiers import HolderIdType, LicenceIdentifier
from certsvc.domain.licence import Issuer, LicenceRecord
from certsvc.rendering import fonts
from certsvc.rendering.renderer import LicenceContent, render_licence
from certsvc.rendering.seals import draw_round_seal
from certsvc.rendering.templates import FieldType, LicenceTemplate, TemplateRegistry

DEPARTMENT = ("无锡市市场监督管理局", "11320200014123456K")


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def _content(template: LicenceTemplate) -> LicenceContent:
    sample = template.load_sample()
    identifier = LicenceIdentifier(template.type_code, DEPARTMENT[1], "20260315000123", 1)
    record = LicenceRecord(
        kind=template.kind,
        holder_name=sample["holder"]["name"],
        holder_id_type=HolderIdType(sample["holder"]["id_type"]),
        holder_id=sample["holder"]["id"],
        fields=template.validate_fields(sample["fields"]),
        valid_from=date.fromisoformat(sample["valid_from"]),
        valid_until=date.fromisoformat(sample["valid_until"]),
        issuer=Issuer(name=DEPARTMENT[0], code=DEPARTMENT[1], area_code="320200"),
    )
    return LicenceContent(
        record=record,
        identifier=str(identifier),
        issued_on=date(2026, 3, 15),
        verify_url=f"https://zz.wuxi.gov.cn/v/{identifier}?k=Q7uX2mR9",
    )


def _texts(template: LicenceTemplate, content: LicenceContent) -> list[tuple[str, str]]:
    """(font key, text) pairs: the same strings the licence prints."""
    out = [
        ("song", template.name),
        ("kai", content.holder_name),
        ("kai", content.holder_id),
        ("song", content.department_name),
        ("song", content.identifier),
    ]
    for spec in template.fields:
        out.append(("song", spec.label))
        value = content.fields.get(spec.key)
        if spec.type is FieldType.IMAGE or value is None:
            continue
        if spec.type is FieldType.TABLE and isinstance(value, list):
            out.extend(("kai", str(cell)) for row in value for cell in row.values())
        else:
            out.append(("kai", str(value)))
    return out


def _bare_page(template: LicenceTemplate, texts: list[tuple[str, str]]) -> bytes:
    buffer = io.BytesIO()
    canvas = Canvas(
        buffer,
        pagesize=(template.page.width, template.page.height),
        invariant=1,
        initialFontName=fonts.font_name("song"),
    )
    y = template.page.height - 40
    for key, text in texts:
        for start in range(0, len(text), 40):
            canvas.setFont(fonts.font_name(key), 11)
            canvas.drawString(40, y, text[start : start + 40])
            y -= 14
            if y < 40:
                canvas.showPage()
                y = template.page.height - 40
    canvas.showPage()
    canvas.save()
    return buffer.getvalue()


def _interleaved_medians(
    a: Callable[[], object], b: Callable[[], object], repeat: int
) -> tuple[float, float]:
    """Median ms of ``a`` and ``b``, measured alternately so that load from other processes
    on a shared machine hits both sides of the ratio alike."""
    times_a, times_b = [], []
    for _ in range(repeat):
        start = time.perf_counter()
        a()
        times_a.append(time.perf_counter() - start)
        start = time.perf_counter()
        b()
        times_b.append(time.perf_counter() - start)
    return statistics.median(times_a) * 1000, statistics.median(times_b) * 1000


def _licence_medians(repeat: int) -> dict[str, float]:
    """Median ms per template of ``render_licence`` (both PDFs), after one warm-up render."""
    fonts.register_fonts()
    seal = draw_round_seal(department_name=DEPARTMENT[0], code="3202000012345")
    medians = {}
    for template in TemplateRegistry.load(ROOT / "templates").all():
        content = _content(template)
        render_licence(template, content, seal_image_png=seal)
        samples = []
        for _ in range(repeat):
            start = time.perf_counter()
            render_licence(template, content, seal_image_png=seal)
            samples.append(time.perf_counter() - start)
        medians[template.slug] = statistics.median(samples) * 1000
    return medians


def _against_baseline(rev: str, repeat: int, rounds: int) -> None:
    import io
    import json
    import subprocess
    import tarfile
    import tempfile

    older = Path(tempfile.mkdtemp(prefix="certsvc-baseline-"))
    archive = subprocess.run(["git", "-C", str(ROOT), "archive", rev], check=True, capture_output=True).stdout
    with tarfile.open(fileobj=io.BytesIO(archive)) as tar:
        tar.extractall(older, filter="data")
    runs: dict[str, list[dict[str, float]]] = {"now": [], "baseline": []}
    for r in range(rounds):
        sides = (("now", ROOT), ("baseline", older))
        for side, root in sides if r % 2 == 0 else sides[::-1]:
            env = {**os.environ, "CERTSVC_BENCH_ROOT": str(root), "PYTHONPATH": str(root)}
            out = subprocess.run([sys.executable, __file__, "--child", "--repeat", str(repeat)], check=True,
                                 capture_output=True, text=True, env=env).stdout  # fmt: skip
            runs[side].append(json.loads(out.strip().splitlines()[-1]))
    print(f"load average {os.getloadavg()[0]:.2f}; {rounds} rounds of {repeat}; baseline {rev} (git archive)")
    print(f"{'template':34} {'now':>9} {'baseline':>10} {'ratio':>6}")
    for slug in runs["now"][0]:
        now = statistics.median(run[slug] for run in runs["now"])
        before = statistics.median(run[slug] for run in runs["baseline"])
        print(f"{slug:34} {now:6.1f} ms {before:7.1f} ms {now / before:5.2f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=50)
    parser.add_argument("--baseline", help="an older commit to time against, same run")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        import json

        print(json.dumps(_licence_medians(args.repeat)))
        return
    if args.baseline:
        _against_baseline(args.baseline, args.repeat, args.rounds)
        return

    start = time.perf_counter()
    fonts.register_fonts()
    registry = TemplateRegistry.load(ROOT / "templates")
    startup_ms = (time.perf_counter() - start) * 1000
    start = time.perf_counter()
    seal = draw_round_seal(department_name=DEPARTMENT[0], code="3202000012345")
    seal_ms = (time.perf_counter() - start) * 1000

    from reportlab.lib import rl_accel

    # reportlab falls back to pure Python silently; _c_funcs lists what the C extension provides.
    accel = (
        f"yes ({len(rl_accel._c_funcs)} C functions)"
        if getattr(rl_accel, "_c_funcs", None)
        else "no"
    )
    print(
        f"machine: {os.cpu_count()} CPUs (nproc {len(os.sched_getaffinity(0))}), {_cpu_model()}, "
        f"load average {os.getloadavg()[0]:.2f}"
    )
    print(f"python {platform.python_version()}, reportlab {reportlab.Version}, rl_accel {accel}")
    print(
        f"start-up (fonts + {len(registry)} templates checked): {startup_ms:.0f} ms; seal PNG: {seal_ms:.0f} ms"
    )
    print(
        f"{'template':34} {'licence (2 PDFs)':>17} {'bare page':>10} {'ratio':>6} {'first':>8} {'sizes (KiB)':>14}"
    )
    for template in registry.all():
        content = _content(template)
        texts = _texts(template, content)
        first_start = time.perf_counter()
        result = render_licence(template, content, seal_image_png=seal)  # first: image cache fills
        first_ms = (time.perf_counter() - first_start) * 1000
        _bare_page(template, texts)
        licence_ms, bare_ms = _interleaved_medians(
            functools.partial(render_licence, template, content, seal_image_png=seal),
            functools.partial(_bare_page, template, texts),
            args.repeat,
        )
        sizes = f"{len(result.electronic_pdf) // 1024}/{len(result.print_pdf) // 1024}"
        print(
            f"{template.slug:34} {licence_ms:14.1f} ms {bare_ms:7.1f} ms {licence_ms / bare_ms:5.1f}x {first_ms:5.0f} ms {sizes:>14}"
        )


if __name__ == "__main__":
    main()
