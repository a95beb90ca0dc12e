"""User-facing errors: one line, exit code 2, no traceback."""
import functools
import sys


class UserError(Exception):
    """A mistake the user can fix (bad path, bad flag, bad file).

    The message should name the file or option and the fix; entry points print it as a
    single line and exit with code 2 instead of showing a traceback.
    """


def user_message(err: UserError) -> str:
    """The one-line message of `err`.

    A `UserError` raised in a DataLoader worker comes back to the main process rebuilt from the worker's
    whole traceback text; its last line is the original `<module.Class>: <message>`.
    """
    text = str(err)
    if "\nOriginal Traceback" in text:
        text = text.rstrip().splitlines()[-1].split(": ", 1)[-1]
    return text


def exit_on_user_error(main):
    """Decorate a command-line entry point so a `UserError` becomes `error: ...` and exit code 2."""

    @functools.wraps(main)
    def wrapper(*args, **kwargs):
        try:
            return main(*args, **kwargs)
        except UserError as err:
            print(f"error: {user_message(err)}", file=sys.stderr)
            sys.exit(2)

    return wrapper
