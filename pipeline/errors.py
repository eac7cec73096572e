"""The project's one class of user-fixable errors."""
from __future__ import annotations


class InputError(Exception):
    """Bad input (a file, a line of it, a setting) that the user can fix, as opposed to a bug.
    The message is '<file>[:<line>]: <problem>. Fix: <what to do>'; a stage prints it as one
    line, without a traceback, and exits non-zero (stages/common.py)."""
