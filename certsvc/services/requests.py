"""Request shapes shared by the API and the CLI (the CLI reads the API's JSON body)."""

from __future__ import annotations

from datetime import date
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from certsvc.domain.identifiers import HolderIdType
from certsvc.errors import ValidationFailedError

__all__ = ["HolderIn", "IssueRequest", "parse_issue_request", "pydantic_problems"]


class HolderIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=100, description="持证主体名称")
    id_type: HolderIdType = Field(description="uscc = 统一社会信用代码, resident_id = 居民身份证号码")
    id: str = Field(min_length=1, max_length=30, description="持证主体代码")


class IssueRequest(BaseModel):
    """Body of ``POST /api/v1/certificates`` and the CLI's REQUEST.json."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "example": {
                "template": "food-business-licence",
                "holder": {"name": "锡林浩特市草原味道餐饮有限公司", "id_type": "uscc", "id": "91152502MA0N2X4K7B"},
                "fields": {"legal_representative": "张三"},
                "valid_from": "2026-11-26",
                "valid_until": "2031-11-25",
            }
        },
    )

    template: str = Field(min_length=1, max_length=64)
    holder: HolderIn
    fields: dict[str, Any] = Field(default_factory=dict)
    valid_from: date
    valid_until: date

    @model_validator(mode="after")
    def _period_is_ordered(self) -> IssueRequest:
        if self.valid_until < self.valid_from:
            raise ValueError("valid_until must not be before valid_from")
        return self


def pydantic_problems(exc: ValidationError) -> list[dict[str, str]]:
    """Turn pydantic's error list into certsvc's ``{field, problem}`` details."""
    return [
        {"field": ".".join(str(p) for p in err["loc"] if p != "body") or "body", "problem": err["msg"]}
        for err in exc.errors()
    ]


def parse_issue_request(data: object) -> IssueRequest:
    """Validate a decoded JSON body; raises ``ValidationFailedError`` listing every problem."""
    try:
        return IssueRequest.model_validate(data)
    except ValidationError as exc:
        raise ValidationFailedError("the request does not match the expected shape", details=pydantic_problems(exc)) from exc
