"""User-facing errors: one line, exit code 2, no traceback."""
import functools
import sys


class UserError(Exception):
    """A mistake the user can fix (bad path, bad flag, bad file).

    The message should name the file or option and the fix; entry points print it as a
    single line and exit with code 2 instead of showing a traceback.
    """


def exit_on_user_error(main):
    """Decorate a command-line entry point so a `UserError` becomes `error: ...` and exit code 2."""

    @functools.wraps(main)
    def wrapper(*args, **kwargs):
        try:
            return main(*args, **kwargs)
        except UserError as err:
            print(f"error: {err}", file=sys.stderr)
            sys.exit(2)

    return wrapper
