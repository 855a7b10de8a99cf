"""Atomic file writes: every file dl4j-bridge writes (model zips, ONNX files, the CLI's outputs) goes through here.

A file is written to a temporary file beside its target (same folder, so the final rename is atomic), then
renamed over the target. Any failure in Python removes the temporary file; a process killed mid-write
(SIGKILL) leaves one, named `.NAME.<host>-<pid>-<random>.tmp`, that the next write to the same target
removes: at once when that process no longer runs on this host, else once it is older than STALE_SECONDS. Every file gets the mode a plain open() would give it: 0o666 minus the umask
(0644 under the usual umask 022), whatever the temporary file was created with.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

from .errors import ModelFileError

__all__ = ["atomic_path", "write_atomic", "target_path", "STALE_SECONDS"]

# A write still under way in another process is younger than this; a leftover of a killed one is older.
STALE_SECONDS = 15 * 60


def target_path(path, what: str = "file") -> Path:
    """`path` as a Path whose folder exists (created if needed); ModelFileError if it is a folder or unwritable."""
    path = Path(path)
    if path.is_dir():
        raise ModelFileError(
            f"Cannot write the {what} to {path}: it is a directory. Pass a file name, "
            f"e.g. {path / ('model.zip' if what == 'model' else 'out')}."
        )
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ModelFileError(f"Cannot create the folder {path.parent} for the {what}: {exc.strerror or exc}.") from exc
    return path


@contextlib.contextmanager
def atomic_path(path, what: str = "file") -> Iterator[Path]:
    """Yield a temporary path beside `path`; when the block ends without an exception it replaces `path`.

    with atomic_path("out/model.zip", "model") as tmp:
        writer(tmp)            # any exception here leaves out/model.zip as it was, and no temp file
    """
    path = target_path(path, what)
    remove_stale_temporaries(path)
    try:
        fd, name = tempfile.mkstemp(prefix=f".{path.name}.{_writer_tag()}-", suffix=".tmp", dir=path.parent)
    except OSError as exc:
        raise ModelFileError(f"Cannot write the {what} to {path}: {exc.strerror or exc}.") from exc
    os.close(fd)
    tmp = Path(name)
    try:
        yield tmp
        os.chmod(tmp, 0o666 & ~_umask())
        os.replace(tmp, path)
    finally:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()


def write_atomic(path, payload: bytes, what: str = "file") -> Path:
    """Write `payload` to `path` atomically (see the module docstring); returns the path."""
    with atomic_path(path, what) as tmp:
        tmp.write_bytes(payload)
    return Path(path)


def remove_stale_temporaries(path: Path, older_than: float = STALE_SECONDS) -> list[Path]:
    """Remove our temporary files for `path` (`.NAME.*.tmp`) left by killed writers; returns what it removed.

    A leftover is stale when the process that made it is gone (same host) or it is older than `older_than`:
    a write still under way elsewhere keeps its file."""
    removed = []
    cutoff = time.time() - older_than
    for leftover in path.parent.glob(f".{_glob_escape(path.name)}.*.tmp"):
        with contextlib.suppress(OSError):
            if leftover.is_file() and (
                _writer_gone(leftover.name[len(path.name) + 2 :]) or leftover.stat().st_mtime < cutoff
            ):
                leftover.unlink()
                removed.append(leftover)
    return removed


def _writer_tag() -> str:
    return f"{_host()}-{os.getpid()}"


def _host() -> str:
    import socket

    return "".join(c for c in socket.gethostname() if c.isalnum())[:24] or "host"


def _writer_gone(tail: str) -> bool:
    """True when `tail` ("<host>-<pid>-<random>.tmp") names a process of this host that no longer runs."""
    host, _, rest = tail.partition("-")
    pid = rest.partition("-")[0]
    if host != _host() or not pid.isdigit():
        return False
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return True
    except OSError:  # exists, owned by someone else
        return False
    return False


def _glob_escape(name: str) -> str:
    import glob

    return glob.escape(name)


def _umask() -> int:
    """The process's umask, read without changing it where Linux allows (os.umask() alone sets it)."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("Umask:"):
                return int(line.split()[1], 8)
    except (OSError, ValueError):
        pass
    mask = os.umask(0o022)
    os.umask(mask)
    return mask
