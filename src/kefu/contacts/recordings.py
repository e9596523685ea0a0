"""The recording store port and its default filesystem implementation.

The PBX writes a recording file; the store maps it to a key kept on the
``recordings`` row and opens it again for playing and downloading. Other
stores (object storage) implement the same three methods.
"""

from __future__ import annotations

import contextlib
from pathlib import Path
from typing import Protocol


class RecordingStore(Protocol):
    def key_for(self, path: str) -> str:
        """The key under which a file the PBX just wrote is kept."""
        ...

    def path(self, key: str) -> Path:
        """A local file to stream for this key (raises FileNotFoundError if it is gone)."""
        ...

    def delete(self, key: str) -> None: ...


class FileSystemRecordingStore:
    """Recordings under one directory (``<data_dir>/recordings`` by default)."""

    def __init__(self, root: Path) -> None:
        self.root = root.resolve()
        self.root.mkdir(parents=True, exist_ok=True)

    def key_for(self, path: str) -> str:
        resolved = Path(path).resolve()
        try:
            return str(resolved.relative_to(self.root))
        except ValueError:
            raise ValueError(f"recording {path} is outside the store {self.root}") from None

    def path(self, key: str) -> Path:
        candidate = (self.root / key).resolve()
        if self.root not in candidate.parents:
            raise FileNotFoundError(key)  # a key may never leave the store
        if not candidate.is_file():
            raise FileNotFoundError(key)
        return candidate

    def delete(self, key: str) -> None:
        with contextlib.suppress(FileNotFoundError):
            self.path(key).unlink()
