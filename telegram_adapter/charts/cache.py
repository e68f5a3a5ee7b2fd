"""Rendered charts on disk by key (signal id and theme), so a restart re-renders only what is missing.

Writes are atomic (a temp file renamed over the name), so a reader never sees half a PNG; the folder is
pruned to a size cap, oldest written first.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from urllib.parse import quote

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
CAP_BYTES = 100 * 2**20


class ChartCache:
    """PNG bytes by key in one folder, at most `cap_bytes` in all. Blocking file I/O: from a loop, use to_thread."""

    def __init__(self, folder: Path, cap_bytes: int = CAP_BYTES) -> None:
        self.folder, self.cap_bytes = Path(folder), cap_bytes
        self.folder.mkdir(parents=True, exist_ok=True)
        for stale in self.folder.glob("*.tmp"):  # a write cut short by a crash
            stale.unlink(missing_ok=True)

    def path(self, key: str) -> Path:
        """The file of a key (any text: signal ids carry ':'), one file per key."""
        return self.folder / f"{quote(key, safe='')}.png"

    def get(self, key: str) -> bytes | None:
        """The stored PNG, or None when missing or not a PNG (a file emptied by a crash is a miss)."""
        try:
            data = self.path(key).read_bytes()
        except FileNotFoundError:
            return None
        return data if data.startswith(PNG_SIGNATURE) else None

    def put(self, key: str, png: bytes) -> None:
        """Store atomically, then prune to the cap."""
        handle, temp = tempfile.mkstemp(dir=self.folder, suffix=".tmp")
        try:
            with os.fdopen(handle, "wb") as file:
                file.write(png)
            os.replace(temp, self.path(key))
        except BaseException:
            Path(temp).unlink(missing_ok=True)
            raise
        self.prune()

    def prune(self) -> None:
        """Delete the oldest-written files until the folder holds at most `cap_bytes`."""
        files = []
        for entry in os.scandir(self.folder):
            if entry.name.endswith(".png"):
                try:
                    stat = entry.stat()
                except FileNotFoundError:  # pruned meanwhile by another writer
                    continue
                files.append((stat.st_mtime_ns, entry.name, stat.st_size))
        total = sum(size for _, _, size in files)
        for _, name, size in sorted(files):
            if total <= self.cap_bytes:
                break
            (self.folder / name).unlink(missing_ok=True)
            total -= size
