"""Request shapes shared by the API and the CLI (the CLI reads the API's JSON body)."""

from __future__ import annotations

from datetime import date
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from certsvc.domain.identifiers import HolderIdType
from certsvc.errors import ValidationFailedError

__all__ = [
    "ISSUE_REQUEST_EXAMPLE",
    "HolderIn",
    "IssueRequest",
    "parse_issue_request",
    "pydantic_problems",
]


class HolderIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=100, description="持证主体名称")
    id_type: HolderIdType = Field(
        description="uscc = 统一社会信用代码, resident_id = 居民身份证号码"
    )
    id: str = Field(min_length=1, max_length=30, description="持证主体代码")


ISSUE_REQUEST_EXAMPLE: dict[str, Any] = {
    # A complete, template-valid request (tests/api/test_openapi_contract.py issues it).
    "template": "food-business-licence",
    "holder": {
        "name": "锡林浩特市草原味道餐饮有限公司",
        "id_type": "uscc",
        "id": "91152502MA0N2X4K7B",
    },
    "fields": {
        "licence_number": "JY21525020012345",
        "legal_representative": "巴特尔",
        "residence": "内蒙古自治区锡林郭勒盟锡林浩特市额尔敦路28号",
        "business_premises": "内蒙古自治区锡林郭勒盟锡林浩特市贝子庙街道团结大街106号",
        "business_type": "餐饮服务经营者",
        "business_items": "热食类食品制售；冷食类食品制售；自制饮品制售",
        "supervision_authority": "锡林浩特市市场监督管理局",
        "supervisors": "其其格、王磊",
        "complaint_phone": "12315",
        "issuer": "苏和",
    },
    "valid_from": "2026-11-26",
    "valid_until": "2031-11-25",
}


class IssueRequest(BaseModel):
    """Body of ``POST /api/v1/certificates`` and the CLI's REQUEST.json."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={"examples": [ISSUE_REQUEST_EXAMPLE]},
    )

    template: str = Field(min_length=1, max_length=64)
    holder: HolderIn
    fields: dict[str, Any] = Field(default_factory=dict)
    valid_from: date
    # Optional where the catalogue's validity rule decides it (a term of N years, 长期); required
    # for a type whose department sets each period (issuance_rules.resolve_valid_until).
    valid_until: date | None = None

    @model_validator(mode="after")
    def _period_is_ordered(self) -> IssueRequest:
        if self.valid_until is not None and self.valid_until < self.valid_from:
            raise ValueError("valid_until must not be before valid_from")
        return self


def pydantic_problems(exc: ValidationError) -> list[dict[str, str]]:
    """Turn pydantic's error list into certsvc's ``{field, problem}`` details."""
    return [
        {
            "field": ".".join(str(p) for p in err["loc"] if p != "body") or "body",
            "problem": err["msg"],
        }
        for err in exc.errors()
    ]


def parse_issue_request(data: object) -> IssueRequest:
    """Validate a decoded JSON body; raises ``ValidationFailedError`` listing every problem."""
    try:
        return IssueRequest.model_validate(data)
    except ValidationError as exc:
        raise ValidationFailedError(
            "the request does not match the expected shape", details=pydantic_problems(exc)
        ) from exc
