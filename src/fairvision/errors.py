"""The one exception type the CLI turns into a clean message instead of a traceback."""

import errno
import os
from typing import Iterator


class FairvisionError(Exception):
    """A problem with the user's input or environment, worded for the user.

    The message must name the file, row or field at fault so it can be fixed
    without reading code.
    """


class NoSpaceLeft(FairvisionError):
    """Writing ``path`` failed because its filesystem is full (ENOSPC) or the user's quota is used up (EDQUOT).

    Raised by ``files.atomic_path``, which has already removed what it had written, so the
    message can say the previous ``path`` is untouched.
    """

    def __init__(self, path: object) -> None:
        super().__init__(f"{path}: no space left on device; it was not written (what was there before is "
                         "unchanged): free some space on its filesystem and run again")
        self.path = path


def is_no_space(error: BaseException) -> bool:
    """Whether ``error``, or an exception it was raised from, is a full disk or a used-up quota.

    OSError carries the errno; TensorFlow (ResourceExhaustedError) and Arrow put only the C
    library's text in their messages, so that text is looked for too.
    """
    texts = (os.strerror(errno.ENOSPC), os.strerror(errno.EDQUOT))
    return any(isinstance(cause, NoSpaceLeft)
               or (isinstance(cause, OSError) and cause.errno in (errno.ENOSPC, errno.EDQUOT))
               or any(text in str(cause) for text in texts)
               for cause in causes(error))


def causes(error: BaseException) -> Iterator[BaseException]:
    """``error``, then what it was raised from or while handling, and so on (each once)."""
    seen: set[int] = set()
    current: BaseException | None = error
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        yield current
        current = current.__cause__ or current.__context__
