"""The one way the suite writes a file a user keeps: to a temporary name beside it, renamed when complete.

    with output_file("results/run/index.html") as tmp:     # tmp keeps the suffix (formats follow it)
        write_page(tmp)
    write_text("checkpoints/run/opt.json", text)

An interrupted or failed write (Ctrl-C, disk full, read-only folder, a file too large) leaves the
previous file at the final path untouched and no temporary file behind; a failure to write is a
`UserError` naming the file and the fix. `prepare_output_dir` checks a folder the user chose for outputs
(a file in its place, no write permission, a special file system) before any work is done.
"""
import os
from contextlib import contextmanager
from typing import Iterator

from util.errors import UserError

# Kernel file systems that accept some writes but never keep a user's files.
_SPECIAL_ROOTS = ("/proc", "/sys", "/dev")


def _write_failure(err: BaseException) -> bool:
    """True if `err` is a failed write: an OSError, or torch's RuntimeError wrapping one (its stream writer)."""
    if isinstance(err, OSError):
        return True
    text = str(err)
    return isinstance(err, RuntimeError) and ("inline_container" in text or "file write failed" in text
                                              or isinstance(err.__cause__ or err.__context__, OSError))


def prepare_output_dir(directory: str, option: str) -> str:
    """Create `directory` (given by `option`, e.g. '--results_dir') if needed and check it can hold files.

    Raises `UserError` naming the option when the path is a file, not writable, or on /proc, /sys, /dev.
    Returns `directory`.
    """
    real = os.path.realpath(directory or ".")
    if any(real == root or real.startswith(root + os.sep) for root in _SPECIAL_ROOTS):
        raise UserError(f"{option} {directory} lies on a special file system ({real}); choose a folder on a disk")
    try:
        os.makedirs(directory or ".", exist_ok=True)
    except (FileExistsError, NotADirectoryError):
        raise UserError(f"{option} {directory}: a file is in the way of this folder; choose another path "
                        f"or move the file") from None
    except OSError as err:
        raise UserError(f"{option} {directory}: cannot create the folder ({err.strerror or err}); "
                        f"choose a writable location") from None
    if not os.access(directory or ".", os.W_OK | os.X_OK):
        raise UserError(f"{option} {directory} is not writable; fix its permissions or choose another folder")
    return directory


@contextmanager
def output_file(path: str, what: str = "") -> Iterator[str]:
    """Yield a temporary path beside `path` (same suffix); when the block ends normally, rename it to `path`.

    On any exception the temporary file is removed and `path` is left as it was; a failed write becomes
    a `UserError` naming `path` (`what`, e.g. 'checkpoint ', is put before it); other exceptions, Ctrl-C
    included, pass through unchanged.
    """
    directory, name = os.path.split(path)
    tmp = os.path.join(directory, f".tmp-{os.getpid()}-{name}")
    try:
        try:
            os.makedirs(directory or ".", exist_ok=True)
            yield tmp
            os.replace(tmp, path)
        except BaseException as err:
            if not _write_failure(err):
                raise
            reason = getattr(err, "strerror", None) or str(err).splitlines()[0]
            raise UserError(f"cannot write {what}{path}: {reason}; free disk space or make {directory or '.'} "
                            f"writable (earlier files there are intact)") from None
    finally:
        if os.path.lexists(tmp):
            os.remove(tmp)


def write_text(path: str, text: str) -> None:
    """Write `text` to `path` through `output_file`."""
    with output_file(path) as tmp:
        with open(tmp, "w") as f:
            f.write(text)
