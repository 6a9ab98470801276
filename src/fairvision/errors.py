"""The one exception type the CLI turns into a clean message instead of a traceback."""


class FairvisionError(Exception):
    """A problem with the user's input or environment, worded for the user.

    The message must name the file, row or field at fault so it can be fixed
    without reading code.
    """
