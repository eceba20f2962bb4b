"""The one base of every error estgeo reports to a person.

An `EstgeoError`'s message says what is wrong and what to do about it; the command line
prints it without a traceback (`estgeo.cli`), the report process answers it as a 400.
Anything else that escapes is a defect and keeps its traceback.
"""

from __future__ import annotations


class EstgeoError(Exception):
    """A failure the user can act on; the message says what and how."""
