"""The project's one class of user-fixable errors."""
from __future__ import annotations

import errno
import os


class InputError(Exception):
    """Bad input (a file, a line of it, a setting) that the user can fix, as opposed to a bug.
    The message is '<file>[:<line>]: <problem>. Fix: <what to do>'; a stage prints it as one
    line, without a traceback, and exits non-zero (stages/common.py)."""


class MissingInput(InputError, FileNotFoundError):
    """A file an earlier stage writes is not there yet: the message says which stage to run."""


class DiskFull(InputError):
    """The disk (or quota) filled up while writing an output: not a fault of one input, so the
    stage stops instead of recording video after video as failed."""


FULL_DISK_ERRNOS = (errno.ENOSPC, errno.EDQUOT)
# Failures of the machine, not of an input: a read-only or unwritable output, a failing disk.
ENVIRONMENT_ERRNOS = FULL_DISK_ERRNOS + (errno.EROFS, errno.EACCES, errno.EPERM, errno.EIO)


def full_disk_message(where: object, doing: str = "") -> str:
    return (f"{where}: no space left on device{' while ' + doing if doing else ''}. Fix: free space there "
            "(or point data/ at a larger disk) and run the stage again; finished videos are kept")


def environment_message(err: OSError) -> str:
    """One line for an OSError of the environment (ENVIRONMENT_ERRNOS): the path, the cause, a fix."""
    where = err.filename or "an output"
    if err.errno in FULL_DISK_ERRNOS:
        return full_disk_message(where)
    fix = ("make it writable (or point data/ at a writable disk)" if err.errno != errno.EIO
           else "check the disk (dmesg, fsck)")
    return f"{where}: {err.strerror or os.strerror(err.errno)}. Fix: {fix} and run the stage again; finished work is kept"
