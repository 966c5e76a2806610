"""The HTTP answer for a stored file: streamed in chunks, with its length and file name."""

from __future__ import annotations

from urllib.parse import quote

from fastapi.responses import StreamingResponse

from certsvc.services.downloads import Download

__all__ = ["file_response"]


def file_response(
    download: Download, *, media_type: str, filename: str, headers: dict[str, str] | None = None
) -> StreamingResponse:
    """``download`` sent in ``STREAM_CHUNK`` pieces as the attachment ``filename``.

    The file was checked against its SHA-256 when ``download`` was made, before this response
    exists, so a corrupt file is a problem+json answer and never a body cut short. The length is
    known, so clients get a Content-Length instead of a chunked transfer.
    """
    return StreamingResponse(
        download.chunks(),
        media_type=media_type,
        headers={
            "Content-Length": str(download.size),
            "Content-Disposition": f"attachment; filename*=UTF-8''{quote(filename)}",
            **(headers or {}),
        },
    )
