"""The error every command turns into one line without a traceback: something the user can fix."""

from __future__ import annotations


class UserError(Exception):
    """An error the user can fix; the message says what to do. ``emotion-edge`` prints it as one line
    and exits 2."""
