"""The incremental revision a seal or a document time-stamp appends: pyHanko's writer and
signer, adjusted so the revision holds only what the signature needs, at the injected time."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter
from pyhanko.pdf_utils.writer import BasePdfFileWriter
from pyhanko.sign import signers

__all__ = ["ClockedPdfSigner", "SealingWriter"]


class SealingWriter(IncrementalPdfFileWriter):
    """An incremental writer that leaves the document's metadata as it was.

    pyHanko's writer stamps a new modification date into the Info dictionary and, for a
    document with XMP (every PDF/A render), parses, rewrites and re-serialises the whole XMP
    packet at each write — twice per signature, close to half the cost of a seal. A seal adds
    a signature; it does not edit the licence, so the revision it appends holds only the
    signature field, its appearance and the page's /Annots. Info and XMP stay byte-for-byte
    those of the render and so stay in agreement, as PDF/A-2 (ISO 19005-2 §6.6.2) requires.
    """

    def _update_meta(self) -> None:  # pyHanko's hook, called before each write
        return None


class ClockedPdfSigner(signers.PdfSigner):
    """PdfSigner whose signing time is the injected ``signed_at``, not ``datetime.now()``."""

    def __init__(self, *args: Any, signed_at: datetime, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._signed_at = signed_at

    def init_signing_session(
        self, pdf_out: BasePdfFileWriter, existing_fields_only: bool = False
    ) -> Any:
        session = super().init_signing_session(pdf_out, existing_fields_only=existing_fields_only)
        # Feeds the /M entry, the signing-time attribute (non-PAdES) and the appearance.
        session.system_time = self._signed_at
        return session
