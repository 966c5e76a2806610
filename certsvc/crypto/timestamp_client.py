"""The client side of RFC 3161: a pyHanko ``TimeStamper`` over any transport.

pyHanko asks a ``TimeStamper`` for every time-stamp it embeds (signature time-stamps for
PAdES B-T, document time-stamps for B-LTA); :class:`TransportTimeStamper` overrides only
``async_request_tsa_response``, the method pyHanko leaves to subclasses, and sends the DER
request through a plain ``bytes -> bytes`` callable. The service layer supplies that callable:
an HTTP POST to ``CERTSVC_TSA_URL`` or, in the embedded deployment, the built-in authority
called in-process (no socket, so a seal does not pay for a round trip).

Every answer is checked before it is used: status granted, the nonce echoed, and the message
imprint equal to the one requested (pyHanko checks neither of the last two reliably; a TSA
answering for another digest would otherwise go unnoticed until validation).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from asn1crypto import cms, core, tsp
from pyhanko.sign.timestamps import TimeStamper

from certsvc.crypto.gm_oids import register_gm_oids
from certsvc.errors import TimeStampUnavailableError

__all__ = ["TimeStampTransport", "TransportTimeStamper", "request_timestamp", "token_gen_time"]

register_gm_oids()

# DER TimeStampReq in, DER TimeStampResp out. Raises TimeStampUnavailableError when the TSA
# cannot be reached.
TimeStampTransport = Callable[[bytes], bytes]


class TransportTimeStamper(TimeStamper):
    """RFC 3161 client whose requests travel through ``transport``."""

    def __init__(self, transport: TimeStampTransport) -> None:
        super().__init__(include_nonce=True)  # type: ignore[no-untyped-call]
        self._transport = transport

    async def async_request_tsa_response(self, req: tsp.TimeStampReq) -> tsp.TimeStampResp:
        answer = self._transport(req.dump())
        try:
            outer = core.Sequence.load(answer, strict=True)
            status = tsp.PKIStatusInfo.load(outer[0].dump())
            granted = status["status"].native in ("granted", "granted_with_mods")
        except (ValueError, TypeError, KeyError) as exc:
            raise TimeStampUnavailableError("the TSA's answer is not a TimeStampResp") from exc
        if not granted:
            # asn1crypto's TimeStampResp insists on a token, which a refusal does not carry.
            texts = "; ".join(status["status_string"].native or [])
            fails = ", ".join(sorted(status["fail_info"].native or []))
            raise TimeStampUnavailableError(f"the TSA refused: {texts} ({fails})"[:300])
        try:
            response = tsp.TimeStampResp.load(answer, strict=True)
            response["time_stamp_token"]["content"]["encap_content_info"]["content"].parsed  # noqa: B018 - fail here on a damaged token
        except (ValueError, TypeError, KeyError) as exc:
            raise TimeStampUnavailableError("the TSA's token cannot be read") from exc
        return response

    async def async_timestamp(self, message_digest: bytes, md_algorithm: str) -> cms.ContentInfo:
        # pyHanko's own check of the answer does not look at the imprint (and fails to format
        # its nonce message), so the whole exchange is checked here.
        nonce, request = self.request_cms(message_digest, md_algorithm)  # type: ignore[no-untyped-call]
        response = await self.async_request_tsa_response(request)
        # The token is handed on as freshly parsed DER: asn1crypto re-encodes an object whose
        # children were read (``parsed``), and pyHanko dumps the token into the PDF.
        token_der = response["time_stamp_token"].dump()
        token = cms.ContentInfo.load(token_der)
        try:
            info = cms.ContentInfo.load(token_der)["content"]["encap_content_info"][
                "content"
            ].parsed
            imprint = info["message_imprint"]
            echoed = info["nonce"].native
            same_imprint = (
                imprint["hashed_message"].native == message_digest
                and imprint["hash_algorithm"]["algorithm"].native == md_algorithm
            )
        except (ValueError, TypeError, KeyError, AttributeError) as exc:
            raise TimeStampUnavailableError("the TSA's token cannot be read") from exc
        if echoed != nonce:
            # RFC 3161 §2.4.2: a missing or different nonce means a replayed or foreign answer.
            raise TimeStampUnavailableError("the TSA's answer does not carry our nonce")
        if not same_imprint:
            raise TimeStampUnavailableError("the TSA time-stamped something else than was asked")
        return token

    def __repr__(self) -> str:
        return "TransportTimeStamper()"


def token_gen_time(token_der: bytes) -> datetime:
    """The ``genTime`` of a DER TimeStampToken (aware datetime).

    Raises:
        ValueError: not a TimeStampToken.
    """
    token = cms.ContentInfo.load(token_der)
    info = token["content"]["encap_content_info"]["content"].parsed
    gen_time: datetime = info["gen_time"].native
    return gen_time


def request_timestamp(transport: TimeStampTransport, data: bytes, *, md: str = "sha256") -> bytes:
    """A DER TimeStampToken over ``data`` (hashed with ``md``: "sha256", "sm3", ...) from the
    TSA behind ``transport``, its nonce and imprint checked.

    Raises:
        TimeStampUnavailableError: the TSA cannot be reached, refused, or answered wrongly.
        ValueError: an unknown digest algorithm.
    """
    import asyncio
    import hashlib

    if md == "sm3":
        from certsvc.crypto.sm2 import sm3  # needs OpenSSL's SM3: imported only when asked

        imprint = sm3(data)
    else:
        imprint = hashlib.new(md, data).digest()
    token = asyncio.run(TransportTimeStamper(transport).async_timestamp(imprint, md))
    return bytes(token.dump())
