"""The static layer is prepared once per template and page count, and only ever reused for it."""

from __future__ import annotations

import dataclasses
import re
import shutil
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from certsvc.rendering import static_layer
from certsvc.rendering.renderer import LicenceContent, render_licence
from certsvc.rendering.templates import LicenceTemplate, TemplateRegistry

pytestmark = pytest.mark.db_independent

FOOD = "food-business-licence"
NAME_MN = "ᠰᠢᠯᠢ ᠶᠢᠨ ᠭᠣᠣᠯ ᠠᠶᠢᠮᠠᠭ ᠤᠨ ᠵᠠᠬᠠ ᠵᠡᠭᠡᠯᠢ ᠶᠢᠨ ᠬᠢᠨᠠᠨ ᠬᠠᠮᠢᠶᠠᠷᠬᠤ ᠲᠣᠪᠴᠢᠶᠠ"
poppler = pytest.mark.skipif(shutil.which("pdftotext") is None, reason="poppler-utils not installed")


def _text(pdf: bytes, tmp_path: Path) -> str:
    path = tmp_path / "licence.pdf"
    path.write_bytes(pdf)
    out = subprocess.run(["pdftotext", str(path), "-"], check=True, capture_output=True, text=True).stdout
    return re.sub(r"\s+", "", out)  # letter-spaced titles come out with spaces between letters


@pytest.fixture
def fresh_layers() -> Iterator[None]:
    """Each test starts without prepared layers and leaves reuse on."""
    static_layer.reuse_static_layers(False)
    static_layer.reuse_static_layers(True)
    yield
    static_layer.reuse_static_layers(True)


@poppler
def test_two_licences_share_the_prepared_layer_and_print_their_own_text(
    registry: TemplateRegistry,
    seal_png: bytes,
    make_content: Callable[..., LicenceContent],
    tmp_path: Path,
    fresh_layers: None,
) -> None:
    template = registry.get(FOOD)
    assert static_layer.prepared_layer(template, 1) is None
    first = render_licence(template, make_content(template, holder_name="锡林浩特市草原奶茶馆"), seal_image_png=seal_png)
    layer = static_layer.prepared_layer(template, 1)
    assert layer is not None and layer.template is template
    second = render_licence(template, make_content(template, holder_name="阿巴嘎旗那达慕超市"), seal_image_png=seal_png)
    assert static_layer.prepared_layer(template, 1) is layer  # reused, not prepared again
    for pdf, own, other in (
        (first.electronic_pdf, "锡林浩特市草原奶茶馆", "阿巴嘎旗那达慕超市"),
        (first.print_pdf, "锡林浩特市草原奶茶馆", "阿巴嘎旗那达慕超市"),
        (second.electronic_pdf, "阿巴嘎旗那达慕超市", "锡林浩特市草原奶茶馆"),
        (second.print_pdf, "阿巴嘎旗那达慕超市", "锡林浩特市草原奶茶馆"),
    ):
        text = _text(pdf, tmp_path)
        # The static layer's title and labels, the licence's own name, nobody else's.
        assert "食品经营许可证" in text and "经营者名称" in text
        assert own in text and other not in text
    assert "打印件" in _text(second.print_pdf, tmp_path) and "打印件" not in _text(second.electronic_pdf, tmp_path)


def test_a_reused_layer_gives_the_same_file_as_a_freshly_drawn_one(
    registry: TemplateRegistry, seal_png: bytes, make_content: Callable[..., LicenceContent], fresh_layers: None
) -> None:
    # Every template, and the bilingual layouts (Mongolian glyphs come from a font of their own).
    cases = [(t, {}) for t in registry.all()]
    cases += [(t, {"department_name_mn": NAME_MN}) for t in registry.all() if t.bilingual is not None]
    for template, issuer in cases:
        warm = make_content(template, holder_name="正蓝旗查干淖尔牧业合作社", **issuer)
        render_licence(template, warm, seal_image_png=seal_png)  # prepares the layer
        content = make_content(template, **issuer)
        reused = render_licence(template, content, seal_image_png=seal_png)
        static_layer.reuse_static_layers(False)
        try:
            fresh = render_licence(template, content, seal_image_png=seal_png)
        finally:
            static_layer.reuse_static_layers(True)
        assert reused == fresh, template.slug


def _retitled(template: LicenceTemplate, title: str) -> LicenceTemplate:
    items = tuple(
        dataclasses.replace(item, props={**item.props, "text": title}) if item.kind == "text" else item
        for item in template.items
    )
    return dataclasses.replace(template, items=items)


@poppler
def test_a_changed_or_another_template_never_gets_a_wrong_layer(
    registry: TemplateRegistry,
    seal_png: bytes,
    make_content: Callable[..., LicenceContent],
    tmp_path: Path,
    fresh_layers: None,
) -> None:
    food = registry.get(FOOD)
    render_licence(food, make_content(food), seal_image_png=seal_png)
    original = static_layer.prepared_layer(food, 1)

    changed = _retitled(food, "食品经营许可证副本")  # same slug, a changed layout
    result = render_licence(changed, make_content(changed), seal_image_png=seal_png)
    assert "食品经营许可证副本" in _text(result.electronic_pdf, tmp_path)
    assert static_layer.prepared_layer(changed, 1) not in (None, original)

    other = registry.get("special-operations-certificate")
    result = render_licence(other, make_content(other), seal_image_png=seal_png)
    text = _text(result.print_pdf, tmp_path)
    assert "建筑施工特种作业操作资格证" in text and "食品经营许可证" not in text
    assert static_layer.prepared_layer(food, 1) is original  # the first template's layer untouched
