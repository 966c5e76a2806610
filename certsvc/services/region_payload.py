"""The one shape a licence change travels in from a 盟 deployment to the hub (对接).

The connector builds a ``Delivery``, the hub parses the same model: the two ends cannot drift.
"""

from __future__ import annotations

from datetime import date, datetime

from pydantic import BaseModel, ConfigDict, Field

__all__ = ["DELIVERY_PATH", "DeliveredFile", "DeliveredLicence", "DeliveredOfd", "Delivery"]

DELIVERY_PATH = "/api/v1/hub/deliveries"

_SHA256 = r"^[0-9a-f]{64}$"


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class DeliveredLicence(_Strict):
    identifier_base: str = Field(min_length=10, max_length=120)
    identifier: str = Field(min_length=10, max_length=130)  # the delivered version's (GB/T 36904)
    version: int = Field(ge=1)  # the member's registry revision of the file
    status: str = Field(max_length=20)  # after the change
    template: str = Field(max_length=64)
    type_code: str = Field(max_length=21)
    department_code: str = Field(max_length=18)
    department_name: str = Field(max_length=200)
    valid_from: date
    valid_until: date


class DeliveredFile(_Strict):
    sha256: str = Field(pattern=_SHA256)
    content_base64: str = Field(min_length=4)


class DeliveredOfd(_Strict):
    """The version's sealed OFD (GB/T 38540 seal, docs/ofd.md), when the member made one."""

    sha256: str = Field(pattern=_SHA256)
    content_base64: str = Field(min_length=4)
    # CA certificates (DER, base64) between the seal's certificate and the member's roots: an
    # OFD seal does not carry them as a PDF signature does. Path-building help only.
    chain: list[str] = Field(default_factory=list, max_length=10)


class Delivery(_Strict):
    """One change of one licence. ``delivery_id`` makes a retry harmless; ``sequence`` (1, 2, 3 …
    per licence) lets the hub refuse a change that would overtake an earlier one."""

    delivery_id: str = Field(pattern=r"^[0-9a-f-]{36}$")
    sequence: int = Field(ge=1)
    event: str = Field(
        max_length=20
    )  # issue | amend | reissue | suspend | resume | revoke | cancel | resign | sync
    occurred_at: datetime
    licence: DeliveredLicence
    metadata: dict[str, str]  # GB/T 36903, as written into the file
    file: DeliveredFile
    ofd: DeliveredOfd | None = None
    # The member's trust roots (DER, base64): pinned by the hub on the first delivery when the
    # registration carried none; ignored afterwards (the pinned ones decide).
    trust_roots: list[str] = Field(default_factory=list, max_length=20)
