"""Verification reports: a value with one verdict and coded reasons, never an exception."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime
from enum import StrEnum

__all__ = [
    "REASONS",
    "Reason",
    "RegistryView",
    "SealRevocationView",
    "SignatureDetail",
    "Verdict",
    "VerificationReport",
    "reason",
]


class Verdict(StrEnum):
    VALID = "valid"
    INVALID = "invalid"
    INDETERMINATE = "indeterminate"
    # Neutral: the file is the registry's print copy of a licence. It carries no electronic
    # seal by design, so it is neither valid nor invalid as an electronic file.
    PRINT_COPY = "print_copy"


# Stable reason codes with their Chinese and English text. Codes are part of the API: never
# rename one; add new ones.
REASONS: dict[str, tuple[Verdict, str, str]] = {
    "signature_valid": (
        Verdict.VALID,
        "签章有效，文件未被篡改",
        "The seal signature is intact and trusted",
    ),
    "no_signature": (Verdict.INVALID, "文件没有电子签章", "The file carries no signature"),
    "signature_broken": (
        Verdict.INVALID,
        "签章校验失败：签名后文件内容被修改",
        "The signature does not match the signed bytes: the file was altered after signing",
    ),
    "modified_after_signing": (
        Verdict.INVALID,
        "签章后文件被追加修改，页面显示内容可能已改变",
        "The file was changed after signing in a way that can alter what the page shows",
    ),
    "signer_untrusted": (
        Verdict.INDETERMINATE,
        "签章证书不是由受信任的电子证照签发机构签发",
        "The signer's certificate does not chain to a trusted root",
    ),
    "not_in_registry": (
        Verdict.INDETERMINATE,
        "证照库中没有这个文件",
        "This file is not one the registry issued",
    ),
    "seal_data_valid": (
        Verdict.VALID,
        "GB/T 38540 电子签章数据校验通过",
        "The GB/T 38540 seal signature stored for this file verifies",
    ),
    "seal_data_invalid": (
        Verdict.INVALID,
        "GB/T 38540 电子签章数据校验失败",
        "The GB/T 38540 seal signature stored for this file does not verify",
    ),
    "seal_revoked": (
        Verdict.INVALID,
        "签章证书已吊销，且没有可信时间戳或登记记录证明签章早于吊销生效时间",
        "The seal certificate is revoked and neither a trusted time-stamp nor the registry's record proves the seal was made before the revocation took effect",
    ),
    "sealed_before_revocation": (
        Verdict.VALID,
        "签章证书后来被吊销，可信时间戳或登记记录证明签章早于吊销生效时间",
        "The seal certificate was revoked later; a trusted time-stamp or the registry's record proves the seal was made before the revocation took effect",
    ),
    "proven_by_archival_timestamp": (
        Verdict.VALID,
        "签章证书在核验时间已失效，但文件中的时间戳和验证数据证明签章时证书有效（PAdES B-LTA）",
        "The seal certificate is no longer valid at the validation time, but the time-stamps and validation data in the file prove it was valid when the seal was made (PAdES B-LTA)",
    ),
    "licence_valid": (Verdict.VALID, "证照状态有效", "The licence is valid"),
    "licence_suspended": (Verdict.INVALID, "证照已暂扣", "The licence is suspended"),
    "licence_revoked": (Verdict.INVALID, "证照已吊销或撤销", "The licence has been revoked"),
    "licence_cancelled": (Verdict.INVALID, "证照已注销", "The licence has been cancelled"),
    "licence_expired": (Verdict.INVALID, "证照已过有效期", "The licence has expired"),
    "licence_superseded": (
        Verdict.INDETERMINATE,
        "证照已变更，此文件不是最新版本",
        "The licence has a newer version; this file is superseded",
    ),
}


@dataclass(frozen=True, slots=True)
class Reason:
    code: str
    message_zh: str
    message_en: str
    verdict: Verdict


def reason(code: str, *, detail: str | None = None, detail_zh: str | None = None) -> Reason:
    """Build a reason from the catalogue; ``detail`` is appended to the English text and
    ``detail_zh`` to the Chinese one."""
    verdict, zh, en = REASONS[code]
    return Reason(
        code=code,
        message_zh=f"{zh}：{detail_zh}" if detail_zh else zh,
        message_en=f"{en}: {detail}" if detail else en,
        verdict=verdict,
    )


@dataclass(frozen=True, slots=True)
class SignatureDetail:
    field_name: str
    signer: str
    signer_organization: str | None
    algorithm: str
    signed_at: datetime | None
    is_intact: bool
    is_trusted: bool
    trust_problem: str | None
    covers_whole_file: bool
    modification_level: str
    changes: str | None
    timestamped_at: datetime | None = None  # proven by a trusted time-stamp (PAdES B-T)
    proven_by: str | None = None  # what proves the seal when its certificate has since expired


@dataclass(frozen=True, slots=True)
class RegistryView:
    identifier: str
    template: str
    department_code: str
    department_name: str
    status: str  # effective status now
    status_at_signing: str
    valid_from: date
    valid_until: date
    version: int
    current_version: int
    current_identifier: str
    is_issued_file: bool  # the uploaded bytes (or their signed revision) are the issued file
    is_print_copy: bool = False  # the uploaded bytes are this version's print copy
    # This version's page is the licence's current page (a later version only re-sealed it).
    is_current_content: bool = True
    sealed_at: datetime | None = None  # when the registry sealed this version
    # The invalidity time of this version's seal certificate, when revoked for a key compromise
    # (the same as ``seal_revocation.invalid_from``; kept for clients that read it).
    seal_compromised_at: datetime | None = None
    sha256: str | None = None  # the stored file of this version (as issued)
    seal_certificate_sha256: str | None = None  # the certificate that sealed this version
    seal_revocation: SealRevocationView | None = None  # that certificate's revocation, if revoked


@dataclass(frozen=True, slots=True)
class SealRevocationView:
    """What verification needs of a seal certificate's revocation (``domain/revocation_policy.py``)."""

    reason: str  # REVOCATION_REASONS key: "key-compromise", "superseded", ...
    invalid_from: datetime


@dataclass(frozen=True, slots=True)
class VerificationReport:
    verdict: Verdict
    reasons: tuple[Reason, ...]
    signatures: tuple[SignatureDetail, ...]
    registry: RegistryView | None
    checked_at: datetime
    file_sha256: str
    warnings: tuple[str, ...] = field(default=())

    @property
    def bottom_line(self) -> bool:
        return self.verdict is Verdict.VALID

    @staticmethod
    def combine(reasons: list[Reason]) -> Verdict:
        """A recognised print copy is that, whatever else is said (the registry's facts are
        reported beside it); otherwise invalid wins over indeterminate, which wins over valid."""
        verdicts = {r.verdict for r in reasons}
        if Verdict.PRINT_COPY in verdicts:
            return Verdict.PRINT_COPY
        if Verdict.INVALID in verdicts:
            return Verdict.INVALID
        if Verdict.INDETERMINATE in verdicts or not reasons:
            return Verdict.INDETERMINATE
        return Verdict.VALID


# --- QR code verification: appended, codes are stable like the ones above -------------------
REASONS.update(
    {
        "qr_signature_valid": (
            Verdict.VALID,
            "二维码签名有效，内容未被篡改",
            "The QR code's signature is valid",
        ),
        "qr_signature_invalid": (
            Verdict.INVALID,
            "二维码签名无效，内容被篡改或伪造",
            "The QR code's signature does not verify: its content was altered or forged",
        ),
        "qr_malformed": (
            Verdict.INVALID,
            "二维码内容不是电子证照核验码",
            "The QR code does not carry a well-formed licence payload",
        ),
        "qr_unknown_key": (
            Verdict.INVALID,
            "二维码签名密钥不在发证机关公钥列表中",
            "The QR code was signed with a key that is not in the trust list",
        ),
        "qr_key_revoked": (
            Verdict.INVALID,
            "二维码签名密钥已被撤销",
            "The key that signed the QR code is revoked",
        ),
        "qr_key_not_valid": (
            Verdict.INVALID,
            "发证日期不在签名密钥的有效期内",
            "The issue date is outside the signing key's validity period",
        ),
        "qr_data_mismatch": (
            Verdict.INVALID,
            "二维码与证照库中的证照数据不一致",
            "The QR code does not match the licence data in the registry",
        ),
        "licence_status_offline": (
            Verdict.VALID,
            "离线核验：证照状态以公钥列表生成时为准",
            "Checked offline: the licence status is as of the trust list's issue time",
        ),
    }
)


# --- identification by the file's own metadata: appended, codes are stable -----------------
REASONS.update(
    {
        "identified_by_metadata": (
            Verdict.INDETERMINATE,
            "文件不是证照库登记的签发文件；已根据文件内嵌的证照元数据找到对应证照，请以证照库记录为准",
            "This file is not the issued file; the licence it names in its embedded GB/T 36903 "
            "metadata was found in the registry, whose record is authoritative",
        ),
        "metadata_mismatch": (
            Verdict.INVALID,
            "文件内嵌的证照元数据与证照库记录不一致，文件可能被伪造",
            "The GB/T 36903 metadata embedded in the file contradicts the registry record",
        ),
    }
)


# --- what changed after a seal, print copies, re-signed files: appended, codes are stable ----
REASONS.update(
    {
        "appended_data": (
            Verdict.INVALID,
            "文件末尾附加了不属于任何修订的数据，不同阅读器可能显示不同内容",
            "Bytes were appended after the file's last revision without being a valid update; "
            "readers may show different things",
        ),
        "signature_not_evaluated": (
            Verdict.INDETERMINATE,
            "签章暂时无法校验（核验服务内部错误），这不表示文件被篡改，请稍后重试",
            "The signature could not be evaluated (an internal failure of the verifier); this does "
            "not mean the file was altered",
        ),
        "print_copy": (
            Verdict.PRINT_COPY,
            "打印件不含电子签章，请扫描二维码核验",
            "This is the licence's print copy: it carries no electronic seal; scan its QR code to "
            "check the licence",
        ),
        "earlier_seal_of_current": (
            Verdict.VALID,
            "此文件是当前证照内容的较早签章版本（证照已重新签章，内容未变）",
            "This file is an earlier seal of the licence's current content (re-sealed since, same content)",
        ),
        "sealed_after_key_compromise": (
            Verdict.INVALID,
            "此文件的签章时间不早于签章密钥的泄露时间，签章不可信",
            "This file was sealed at or after its seal key's recorded compromise time",
        ),
    }
)
