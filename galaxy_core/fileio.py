"""Atomic file writes: a reader never sees a half-written file under its final name."""
from __future__ import annotations

import contextlib
import json
import os
import tempfile
from pathlib import Path
from typing import Iterator


@contextlib.contextmanager
def atomic_path(final: str | os.PathLike, suffix: str = ".tmp") -> Iterator[Path]:
    """Yield a temporary path beside `final`; on success it replaces `final`, on error it is removed."""
    tmp = temp_path_beside(final, suffix)
    try:
        yield tmp
        replace_with(tmp, final)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def temp_path_beside(final: str | os.PathLike, suffix: str = ".tmp") -> Path:
    """A new empty file in `final`'s folder (same file system, so the final rename is atomic)."""
    final = Path(final)
    final.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{final.name}.", suffix=suffix, dir=final.parent)
    os.close(fd)
    return Path(tmp_name)


def replace_with(tmp: Path, final: str | os.PathLike) -> None:
    """Make the finished `tmp` durable and put it in place of `final` in one step."""
    fsync_path(tmp)
    # mkstemp makes 0600 files (and some writers recreate the file): give the usual permissions.
    os.chmod(tmp, 0o666 & ~_UMASK)
    os.replace(tmp, final)


def _read_umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


# Read once at import: setting the umask is process-wide, so toggling it on every write would
# race with other threads (the dashboard's server is threaded) creating files meanwhile.
_UMASK = _read_umask()


def fsync_path(path: str | os.PathLike) -> None:
    with open(path, "rb") as handle:
        os.fsync(handle.fileno())


def write_bytes_atomic(path: str | os.PathLike, data: bytes) -> None:
    with atomic_path(path) as tmp:
        tmp.write_bytes(data)


def write_json_atomic(path: str | os.PathLike, obj) -> None:
    write_bytes_atomic(path, (json.dumps(obj, indent=2, sort_keys=False) + "\n").encode())


def os_error_reason(exc: OSError) -> str:
    """An OSError's reason in a few words, without the path it names (it may be long or private)."""
    return (exc.strerror or type(exc).__name__).lower()


def short_path(path: str | os.PathLike) -> str:
    """A path for a one-sentence message: long ones keep their start and end."""
    text = str(path)
    return text if len(text) <= 80 else text[:40] + "..." + text[-30:]


def require_writable(path: str | os.PathLike, folder: bool = False) -> Path:
    """Refuse an output that cannot be written before any work starts (`/proc/x.h5`, a read-only disk)."""
    from galaxy_core.errors import UserError

    path = Path(path)
    target = path if folder else path.parent
    try:
        target.mkdir(parents=True, exist_ok=True)
        fd, probe = tempfile.mkstemp(prefix=".write-test.", dir=target)
        os.close(fd)
        os.unlink(probe)
    except OSError as exc:
        raise UserError(f"Cannot write {short_path(path)} ({os_error_reason(exc)}): choose a folder you can write to.") from None
    return path


@contextlib.contextmanager
def exclusive_lock(lock_path: str | os.PathLike) -> Iterator[None]:
    """Hold an advisory lock on `lock_path` (created if missing): one process or thread at a time.

    On Windows (no fcntl) it yields unlocked; the callers' writes are atomic anyway."""
    lock_path = Path(lock_path)
    lock_path.parent.mkdir(parents=True, exist_ok=True)
    with open(lock_path, "a+") as handle:
        try:
            import fcntl
        except ImportError:
            yield
            return
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)
