"""Why a licence was suspended, revoked or cancelled, in categories the public page may show.

The free-text reason (a decision's document number, the facts) stays with the department; the
public page names only the category, and tells the reader what to do next for each status.
"""

from __future__ import annotations

from enum import StrEnum

__all__ = ["NEXT_STEPS_ZH", "STATUS_NAMES_ZH", "ReasonCategory"]

# Public status values in Chinese, for charts and tables read by Chinese staff.
STATUS_NAMES_ZH: dict[str, str] = {
    "valid": "有效",
    "suspended": "已暂扣",
    "revoked": "已撤销",
    "cancelled": "已注销",
    "expired": "已过期",
    "superseded": "已变更",
}


class ReasonCategory(StrEnum):
    VIOLATION = "violation"  # 违法违规被依法处理 (行政处罚)
    CONDITIONS_NOT_MET = "conditions-not-met"  # 不再符合许可条件
    HOLDER_REQUEST = "holder-request"  # 持证主体申请
    BUSINESS_ENDED = "business-ended"  # 经营主体终止、歇业
    ISSUED_IN_ERROR = "issued-in-error"  # 发证信息有误或不当发证
    OTHER = "other"  # 其他

    @property
    def label_zh(self) -> str:
        return _LABELS_ZH[self]


_LABELS_ZH = {
    ReasonCategory.VIOLATION: "违法违规，依法处理",
    ReasonCategory.CONDITIONS_NOT_MET: "不再符合许可条件",
    ReasonCategory.HOLDER_REQUEST: "持证主体申请",
    ReasonCategory.BUSINESS_ENDED: "经营主体终止或歇业",
    ReasonCategory.ISSUED_IN_ERROR: "证照信息有误或发证不当",
    ReasonCategory.OTHER: "其他原因",
}

# What a reader (a clerk at a counter, a customer) should do, per public status.
NEXT_STEPS_ZH: dict[str, str] = {
    "valid": "证照有效。请核对页面信息与所持证照一致。",
    "suspended": "暂扣期间该证照不能作为有效证明使用。请联系发证机关了解恢复条件，或请持证主体提供其他证明。",
    "revoked": "该证照已被撤销，不能再作为有效证明使用。如需办理相关事项，请持证主体向发证机关重新申请。",
    "cancelled": "该证照已注销，不能再作为有效证明使用。如对注销有疑问，请咨询发证机关。",
    "expired": "该证照已超过有效期。请持证主体办理延续或出示新的证照。",
    "superseded": "该证照已变更或补发，请以最新版本为准（见下方“最新版本”）。",
}
