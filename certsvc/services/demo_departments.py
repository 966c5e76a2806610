"""The demonstration departments ``certsvc init`` provisions in development: 锡林郭勒盟's
bureaus with their seals and the licence types each may issue."""

from __future__ import annotations

from dataclasses import dataclass

from certsvc.crypto import api as crypto

__all__ = ["DEMO_DEPARTMENTS", "DemoDepartment"]


@dataclass(frozen=True)
class DemoDepartment:
    code: str
    name: str
    area_code: str
    seal_name: str
    algorithm: crypto.KeyAlgorithm
    licence_types: tuple[str, ...]  # template slugs the department may issue
    name_mn: str | None = None  # only a spelling attested in a public Mongolian-language source
    name_mn_source: str | None = None  # where that spelling is published


# A 市场监督管理局 licenses food and drug businesses and issues its own 准予行政许可决定书, never a
# planning permit; a 行政审批和政务服务局 holds the approvals concentrated in it (相对集中行政许可权):
# planning and construction as well as food and drug retail. The demo also lets it issue the
# 不动产权证书 and the 取水许可证, so that one department can show every licence type; a real
# deployment grants the 不动产权证书 to its 不动产登记机构 and the 取水许可证 to whichever body
# holds that approval (`certsvc department types CODE --add SLUG`).
#
# Mongolian names: a demo department carries one only when its exact spelling is published by a
# public Mongolian-language source, never a translation made here (translations of official
# names must match the Chinese exactly and are approved by the region's Mongolian language
# offices). No published spelling was found for the two 锡林郭勒盟 bureaus, nor for another
# 锡林郭勒盟 body issuing these licence types (searched: the Mongolian editions of the region's
# government sites, mgl.*.gov.cn; queries listed in docs/templates.md "What was searched"), so they are bilingual
# departments *without* their Mongolian name: `certsvc init` reports that, and their seals and
# licences stay Chinese until an operator sets it (`certsvc department update CODE --name-mn`).
# 内蒙古自治区人民政府 writes its own name on its Mongolian site; it issues the demo's bilingual
# administrative licensing decisions.
DEMO_DEPARTMENTS = (
    DemoDepartment(
        "11152500011512829G",
        "锡林郭勒盟市场监督管理局",
        "152500",
        "行政许可专用章",
        crypto.KeyAlgorithm.ECDSA_P256,
        ("administrative-licensing-decision", "drug-business-licence", "food-business-licence"),
    ),
    DemoDepartment(
        "11152502011513952P",
        "锡林浩特市行政审批和政务服务局",
        "152502",
        "行政审批专用章",
        crypto.KeyAlgorithm.SM2,
        (
            "administrative-licensing-decision",
            "construction-permit",
            "construction-planning-permit",
            "drug-business-licence",
            "food-business-licence",
            "real-estate-title",
            "special-operations-certificate",
            "water-abstraction-permit",
        ),
    ),
    DemoDepartment(
        "111500000115100509",
        "内蒙古自治区人民政府",
        "150000",
        "行政许可专用章",
        crypto.KeyAlgorithm.SM2,
        ("administrative-licensing-decision",),
        name_mn="ᠥᠪᠥᠷ ᠮᠣᠩᠭᠤᠯ ᠤᠨ ᠥᠪᠡᠷᠲᠡᠭᠡᠨ ᠵᠠᠰᠠᠬᠤ ᠣᠷᠣᠨ ᠤ ᠠᠷᠠᠳ ᠤᠨ ᠵᠠᠰᠠᠭ ᠤᠨ ᠣᠷᠳᠣᠨ",
        # The heading of its decree No. 213 (…ᠣᠷᠳᠣᠨ ᠤ ᠵᠠᠷᠯᠢᠭ, 人民政府令) on its Mongolian site.
        name_mn_source="https://mgl.nmg.gov.cn/am/2016/1/4/U_68445_392250.html",
    ),
)
