"""Multipart parsing for uploads: any file part up to MAX_UPLOAD_MB, text fields held to a small limit.

Werkzeug applies ``max_form_memory_size`` in two places: to each text field (what we want) and to
its multipart decoder's buffer, which holds the tail of the previous chunk (up to a boundary's length
when a chunk ends near a CR or LF) plus the next chunk. With chunks as large as the limit, that second
check refused file uploads of about half a megabyte and more whenever a chunk ended near a line
break (Werkzeug 3.1.9; issue 19). Here the parser reads the body in chunks much smaller than the
field limit, so only a text field (or a part's headers) over the limit can trip it, and that case
gets its own message.
"""

from __future__ import annotations

from typing import IO, Any

from werkzeug.exceptions import RequestEntityTooLarge
from werkzeug.formparser import FormDataParser, MultiPartParser

FIELD_LIMIT = 64 * 1024  # bytes: the largest text field (e.g. ``options``) or part header block
CHUNK = 16 * 1024  # bytes read per step; far below FIELD_LIMIT, see the module docstring


class FieldTooLarge(RequestEntityTooLarge):
    """A text form field, or a part's headers, over :data:`FIELD_LIMIT` (413)."""

    description = (f"a form field (such as 'options') or a part's headers exceed {FIELD_LIMIT // 1024} KiB, "
                   "or the form has too many parts; send the video in the field 'file' and keep the other "
                   "fields small")


class UploadFormParser(FormDataParser):
    """A :class:`FormDataParser` whose multipart parser reads in :data:`CHUNK`-byte steps."""

    def _parse_multipart(self, stream: IO[bytes], mimetype: str, content_length: int | None,
                         options: dict[str, str]) -> Any:
        parser = MultiPartParser(stream_factory=self.stream_factory,
                                 max_form_memory_size=self.max_form_memory_size,
                                 max_form_parts=self.max_form_parts, cls=self.cls, buffer_size=CHUNK)
        boundary = options.get("boundary", "").encode("ascii")
        if not boundary:
            raise ValueError("Missing boundary")
        try:
            form, files = parser.parse(stream, boundary, content_length)
        except RequestEntityTooLarge:
            # the whole body over MAX_CONTENT_LENGTH is refused before parsing when its length is
            # declared, and by the limited stream otherwise: keep that case the upload-size error
            if content_length is None or (self.max_content_length is not None
                                          and content_length > self.max_content_length):
                raise
            _drain(stream)  # read the rest, so that the client gets the answer, not a reset connection
            raise FieldTooLarge() from None
        return stream, form, files


def _drain(stream: IO[bytes]) -> None:
    """Read and drop what is left of a request body (already capped at MAX_CONTENT_LENGTH)."""
    while stream.read(1 << 20):
        pass
