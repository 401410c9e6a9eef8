"""The one error shape for files the project cannot use: which file, and what is wrong with it.

Checkpoints, manifests, directions, upscalers and converted ncnn models all fail the same way: the
service refuses to start (or a CLI exits 2) with one line naming the file and the problem. Each kind
subclasses this, so callers can catch the kind they expect. Standard library only.
"""

from __future__ import annotations

import os
from pathlib import Path


class FileError(ValueError):
    """A file that cannot be used; `str()` is '<path>: <problem>'."""

    def __init__(self, path: str | os.PathLike[str], problem: str) -> None:
        self.path = Path(path)
        self.problem = problem
        super().__init__(f"{self.path}: {problem}")
