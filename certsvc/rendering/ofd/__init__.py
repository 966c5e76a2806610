"""The licence as an OFD file (GB/T 33190-2016), drawn from the same plan as the electronic PDF.

Public surface: :func:`render_ofd` → :class:`RenderedOfd`, and :data:`GBT36903_NAMES` (the
``CustomData`` names the metadata is written under).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import date

from certsvc.domain.identifiers import LicenceIdentifier
from certsvc.errors import ValidationFailedError
from certsvc.rendering.content import LicenceContent
from certsvc.rendering.ofd.recorder import record_scene
from certsvc.rendering.ofd.writer import OfdMetadata, write_ofd
from certsvc.rendering.templates import LicenceTemplate

__all__ = ["GBT36903_NAMES", "RenderedOfd", "ofd_metadata", "render_ofd"]

# GB/T 36903-2018 element names as the national and provincial 电子证照 platforms read them from
# OFD DocInfo/CustomDatas (STANDARDS §3.2), keyed by certsvc's metadata keys (rendering/metadata).
GBT36903_NAMES: tuple[tuple[str, str], ...] = (
    ("identifier", "电子证照标识"),
    ("licence_name", "证照类型名称"),
    ("type_code", "证照类型代码"),
    ("licence_number", "证照编号"),
    ("issuer_name", "证照颁发机构"),
    ("issuer_code", "证照颁发机构代码"),
    ("issued_on", "证照颁发日期"),
    ("valid_from", "证照有效期起始日期"),
    ("valid_until", "证照有效期截止日期"),
    ("holder_name", "持证主体"),
    ("holder_code", "持证主体代码"),
    ("holder_code_type", "持证主体代码类型"),
    ("area_code", "证照所属管辖属地编码"),
    ("version", "证照版本号"),
)
_DATE_KEYS = frozenset({"issued_on", "valid_from", "valid_until"})
OPEN_ENDED = "长期"  # an end of validity that never comes (STANDARDS §3.2)


@dataclass(frozen=True, slots=True)
class RenderedOfd:
    data: bytes  # the unsealed OFD package
    seal_page: int  # index of the page whose seal box the seal goes into
    seal_box: tuple[float, float, float, float]  # x, y, width, height in mm from the top-left


def _version(identifier: str) -> str:
    """证照版本号: the identifier's version part, 3 digits (empty for a malformed identifier)."""
    try:
        return f"{LicenceIdentifier.parse(identifier).version:03d}"
    except ValidationFailedError:
        return ""


def _platform_date(key: str, value: str) -> str:
    # The platforms exchange dates as yyyyMMdd; a licence without an end says 长期.
    parsed = date.fromisoformat(value)
    if key == "valid_until" and parsed.year >= 9999:
        return OPEN_ENDED
    return f"{parsed:%Y%m%d}"


def ofd_metadata(template: LicenceTemplate, content: LicenceContent) -> OfdMetadata:
    """DocInfo of the licence's OFD: the GB/T 36903 metadata the PDF carries in XMP, by name."""
    values = dict(content.metadata)
    values.setdefault("version", _version(content.identifier))
    custom = tuple(
        (name, _platform_date(key, values[key]) if key in _DATE_KEYS else values[key])
        for key, name in GBT36903_NAMES
        if values.get(key)
    )
    # GB/T 33190 §7.4 DocID: one identifier per document; derived, so re-renders agree.
    doc_id = hashlib.sha256(f"ofd:{content.identifier}".encode()).hexdigest()[:32]
    return OfdMetadata(
        doc_id=doc_id,
        title=f"{template.name}（{content.holder_name}）",
        author=content.department_name,
        subject=f"电子证照 {template.name} {content.identifier}",
        keywords=(content.identifier, template.type_code),
        created_on=content.issued_on,
        custom_data=custom,
    )


def render_ofd(template: LicenceTemplate, content: LicenceContent) -> RenderedOfd:
    """The unsealed OFD of one licence (same pages as the electronic PDF, seal box empty).

    Raises:
        ValidationFailedError: a value does not fit (as :func:`render_licence`).
        RenderingError: an image, the QR text or a font cannot be used.
    """
    scene = record_scene(template, content)
    return RenderedOfd(
        data=write_ofd(scene, ofd_metadata(template, content)),
        seal_page=scene.seal_page,
        seal_box=scene.seal_box,
    )
