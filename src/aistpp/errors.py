"""The one exception type for errors a user can cause (bad paths, malformed files, wrong shapes).

The CLI prints ``AistppError`` in one line and exits with code 2; any other exception is
a bug of ours and keeps its traceback.
"""

from __future__ import annotations

from pathlib import Path


class AistppError(Exception):
    """A user-caused error. The message names the file (when there is one) and the fix."""

    def __init__(self, message: str, path: str | Path | None = None):
        self.path = None if path is None else Path(path)
        super().__init__(f"{path}: {message}" if path is not None else message)


class AistppWarning(UserWarning):
    """Something a user should know that does not stop the run (the CLI prints it in one line)."""
