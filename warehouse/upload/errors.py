"""The one exception the upload API raises for a request it refuses."""

import re

# Upload clients (twine, uv) show the HTTP reason phrase to the user, so the message becomes
# that phrase: it must be one line of latin-1 text without control characters.
_CONTROL_CHARACTERS = re.compile(r"[\x00-\x1f\x7f-\x9f]+")
_MAX_MESSAGE_LENGTH = 1000


def _as_reason_phrase(message: str) -> str:
    single_line = _CONTROL_CHARACTERS.sub(" ", message).strip()
    latin1 = single_line.encode("latin-1", "backslashreplace").decode("latin-1")
    if len(latin1) > _MAX_MESSAGE_LENGTH:
        latin1 = latin1[: _MAX_MESSAGE_LENGTH - 3] + "..."
    return latin1


class UploadError(Exception):
    """An upload refused with `status` (400 unless said otherwise) and a one-line `message`.

    403 is for permission problems and 413 for files over the size limit.
    """

    def __init__(self, message: str, status: int = 400) -> None:
        self.message = _as_reason_phrase(message)
        self.status = status
        super().__init__(self.message)

    def __repr__(self) -> str:
        return f"UploadError({self.message!r}, status={self.status})"
