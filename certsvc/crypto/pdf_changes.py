"""The changes a revision after a seal made that are not LTV data, and how a report names
them in English and Chinese (see ``crypto.pdf_revisions`` for the rule that finds them)."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

__all__ = ["ChangeKind", "PdfChange"]


class ChangeKind(StrEnum):
    CATALOG = "catalog"
    ACROFORM = "acroform"
    PAGE = "page"
    PAGE_CONTENT = "page_content"
    RESOURCE = "resource"
    ANNOTATION = "annotation"
    APPEARANCE = "appearance"
    FIELD = "field"
    METADATA = "metadata"
    INFO = "info"
    OBJECT = "object"
    UNREFERENCED = "unreferenced"
    STRUCTURE = "structure"


_KIND_TEXT: dict[ChangeKind, tuple[str, str]] = {
    ChangeKind.CATALOG: ("document catalogue", "文档目录"),
    ChangeKind.ACROFORM: ("interactive form (AcroForm)", "交互式表单（AcroForm）"),
    ChangeKind.PAGE: ("page object", "页面对象"),
    ChangeKind.PAGE_CONTENT: ("page content stream", "页面内容流"),
    ChangeKind.RESOURCE: (
        "page resource (font, image or form XObject)",
        "页面资源（字体、图像或表单对象）",
    ),
    ChangeKind.ANNOTATION: ("annotation", "注释"),
    ChangeKind.APPEARANCE: ("appearance stream", "外观流"),
    ChangeKind.FIELD: ("form field or widget (signed or not)", "表单域或控件（含签名域）"),
    ChangeKind.METADATA: ("XMP metadata", "XMP 元数据"),
    ChangeKind.INFO: ("document information dictionary (Info)", "文档信息字典（Info）"),
    ChangeKind.OBJECT: ("object", "对象"),
    ChangeKind.UNREFERENCED: ("object that is not part of the document", "不属于文档的对象"),
    ChangeKind.STRUCTURE: ("document structure (trailer)", "文档结构（尾部字典）"),
}


@dataclass(frozen=True, slots=True)
class PdfChange:
    """One object a revision after the signed one wrote, freed or re-pointed, that is not LTV data."""

    kind: ChangeKind
    revision: int  # 0-based index of the revision that made the change
    object_ref: str | None  # "12 0"; None for a trailer change
    page: int | None  # 1-based page the object belongs to, when it belongs to one
    action: str  # added | changed | deleted
    keys: tuple[str, ...] = ()  # for dictionaries compared key by key: the keys that differ

    def describe_en(self) -> str:
        what = _KIND_TEXT[self.kind][0]
        where = [f"object {self.object_ref}"] if self.object_ref else []
        if self.keys:
            where.append("keys " + " ".join(self.keys))
        where.append(f"revision {self.revision + 1}")
        page = f"page {self.page}: " if self.page else ""
        return f"{page}{what} {self.action} ({', '.join(where)})"

    def describe_zh(self) -> str:
        what = _KIND_TEXT[self.kind][1]
        verb = {"added": "新增", "changed": "修改", "deleted": "删除"}[self.action]
        where = [f"对象 {self.object_ref}"] if self.object_ref else []
        if self.keys:
            where.append("键 " + " ".join(self.keys))
        where.append(f"第 {self.revision + 1} 次修订")
        page = f"第 {self.page} 页：" if self.page else ""
        return f"{page}{verb}{what}（{'，'.join(where)}）"
