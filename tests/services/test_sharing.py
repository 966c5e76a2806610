"""Sharing rules that need no HTTP: codes, link signing, the department's masked export."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime

import pytest

from certsvc.errors import NotFoundError
from certsvc.services import authorizations, sharing
from certsvc.services.context import ServiceContext
from certsvc.services.holders import UsageView
from certsvc.services.principals import Principal, Role


def test_codes_are_read_out_without_ambiguous_characters() -> None:
    assert not set("01ILOU") & set(authorizations._CODE_ALPHABET)
    assert authorizations.normalise_code(" ab2c-de3f ") == "AB2CDE3F"
    assert authorizations.format_code("AB2CDE3F") == "AB2C-DE3F"


def test_a_download_link_cannot_be_altered(holder_ctx: ServiceContext) -> None:
    service = sharing.SharingService(holder_ctx)
    window = Principal(client_id=41, name="w", role=Role.SHARING, department_id=1, department_code="X")
    token = service._sign_link(999_999, 41, holder_ctx.clock.now())
    payload, mac = token.split(".")
    forged = sharing._b64(b'{"u":1,"c":41,"e":99999999999}')
    for bad in (f"{forged}.{mac}", f"{payload}.{mac[:-2]}AA", payload, "", f"{payload}.签章", "证.照"):
        with pytest.raises(NotFoundError) as info:
            service.download(window, bad)
        assert info.value.code == "download_link_invalid"


def test_departments_see_holder_ids_only_where_they_were_authorized() -> None:
    base = UsageView(1, datetime.now(UTC), "query", "ok", "D", "w", "uscc", "91320213MA1N2P3Q43", "1.2.156", "t", "A", "r", 5)
    assert sharing._for_department(base) == base
    refused = sharing._for_department(dataclasses.replace(base, result="authorization_used"))
    assert refused.holder_id == "9132**********3Q43" and refused.certificate_identifier is None
