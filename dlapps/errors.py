"""The one error type that reaches the user as a single line, without a traceback."""


class UserError(Exception):
    """A mistake the user can fix: bad input data, a bad flag, a wrong path.

    The CLI prints its message as one line (`error: ...`) and exits with a
    non-zero status; `--debug` shows the traceback. The message says what
    was wrong and what to do about it.

    Example:

    >>> raise UserError("folder 'photos/' is empty: put one sub-folder of images per class in it")
    """
