"""Errors that reach the user: each carries the CLI exit code and the HTTP status it maps to."""


class MicrolensError(Exception):
    """Base class: a clear one-line message, no traceback for the user."""

    exit_code = 1
    http_status = 500


class UsageError(MicrolensError):
    """Bad arguments or options (exit 2, HTTP 400)."""

    exit_code = 2
    http_status = 400


class DataError(MicrolensError):
    """A dataset directory or annotation file that cannot be used (exit 2, HTTP 422)."""

    exit_code = 2
    http_status = 422


class VideoError(MicrolensError):
    """Not a readable video: truncated, not a video, audio only, no frames (exit 3, HTTP 415)."""

    exit_code = 3
    http_status = 415


class NoFaceError(MicrolensError):
    """No face was found in the whole video (exit 4, HTTP 422)."""

    exit_code = 4
    http_status = 422


class OutputError(MicrolensError):
    """A report, face video or summary could not be written (disk full, no permission, a file where
    a folder should be): exit 5, HTTP 500 (the server's own storage failed)."""

    exit_code = 5
    http_status = 500
