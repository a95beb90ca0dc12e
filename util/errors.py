"""User-facing errors: one line, exit code 2, no traceback; Ctrl-C: one line, exit code 130."""
import functools
import sys
from contextlib import contextmanager
from typing import Iterator

INTERRUPTED_EXIT = 130  # the shell's code for a process ended by SIGINT


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


class Interruption:
    """Whether Ctrl-C ended a `catch_interrupt` block early (`happened`)."""

    happened = False


@contextmanager
def catch_interrupt() -> Iterator[Interruption]:
    """Run a block that Ctrl-C may end early: the KeyboardInterrupt is kept as `.happened`, so the caller
    can still finish what it has (e.g. a results page for the images done) and then exit."""
    interruption = Interruption()
    try:
        yield interruption
    except KeyboardInterrupt:
        interruption.happened = True


def exit_on_user_error(main):
    """Decorate a command-line entry point so a `UserError` becomes `error: ...` and exit code 2, and
    Ctrl-C (anywhere outside train.py's graceful loop, e.g. during set-up) one line and exit code 130."""

    @functools.wraps(main)
    def wrapper(*args, **kwargs):
        try:
            return main(*args, **kwargs)
        except UserError as err:
            print(f"error: {user_message(err)}", file=sys.stderr)
            sys.exit(2)
        except KeyboardInterrupt:
            print("interrupted (Ctrl-C): stopped; files written so far are kept", file=sys.stderr)
            sys.exit(INTERRUPTED_EXIT)

    return wrapper
