"""Download the real Galaxy10_DECals.h5: resumable (HTTP Range), verified (SHA256), atomic.

Bytes go to `FILE.part`; only a complete file whose SHA256 matches is renamed to `FILE`, so the
final name never holds a partial or corrupt download. Run the same command again to resume.
"""
from __future__ import annotations

import hashlib
import http.client
import os
import re
import shutil
import socket
import urllib.error
import urllib.request
from pathlib import Path
from typing import Callable

from galaxy_core.errors import UserError
from galaxy_core.fileio import fsync_path

ZENODO_URL = "https://zenodo.org/records/10845026/files/Galaxy10_DECals.h5"
ZENODO_SHA256 = "19aefc477c41bb7f77ff07599a6b82a038dc042f889a111b0d4d98bb755c1571"
DEFAULT_FILENAME = "Galaxy10_DECals.h5"
BLOCK = 1 << 20
NETWORK_ERRORS = (urllib.error.URLError, http.client.HTTPException, socket.timeout, ConnectionError, TimeoutError)

Progress = Callable[[int, "int | None"], None]


def sha256_of(path: Path, progress: Progress | None = None) -> "hashlib._Hash":
    digest = hashlib.sha256()
    done = 0
    with open(path, "rb") as handle:
        while block := handle.read(BLOCK):
            digest.update(block)
            done += len(block)
            if progress:
                progress(done, None)
    return digest


def _total_size(response, offset: int) -> int | None:
    content_range = response.headers.get("Content-Range", "")
    match = re.search(r"/(\d+)\s*$", content_range)
    if match:
        return int(match.group(1))
    length = response.headers.get("Content-Length")
    return offset + int(length) if length is not None else None


def _check_disk(folder: Path, needed: int | None) -> None:
    if needed is None:
        return
    free = shutil.disk_usage(folder).free
    if free < needed:
        raise UserError(f"{folder} has {free / 2**30:.1f} GB free but the download needs {needed / 2**30:.1f} GB more: free some space or choose another --out.")


class PartFile:
    """The `.part` file and the SHA256 of what it holds so far."""

    def __init__(self, path: Path):
        self.path = path
        self.digest = sha256_of(path) if path.exists() else hashlib.sha256()

    @property
    def size(self) -> int:
        return self.path.stat().st_size if self.path.exists() else 0

    def restart(self) -> None:
        self.path.unlink(missing_ok=True)
        self.digest = hashlib.sha256()


def _fetch_once(url: str, part: PartFile, timeout: float, progress: Progress | None) -> int | None:
    """Append to the part file from where it stops; return the total size (None if the server does not say)."""
    offset = part.size
    request = urllib.request.Request(url, headers={"User-Agent": "galaxy_core-download"})
    if offset:
        request.add_header("Range", f"bytes={offset}-")
    try:
        response = urllib.request.urlopen(request, timeout=timeout)
    except urllib.error.HTTPError as exc:
        if exc.code == 416 and offset:  # nothing left to send: the part file is already whole
            return offset
        raise UserError(f"The server answered {exc.code} {exc.reason} for {url}: check the URL, or try again later.") from None
    with response:
        if offset and response.status != 206:  # the server ignored Range: start over
            offset = 0
            part.restart()
        total = _total_size(response, offset)
        _check_disk(part.path.parent, None if total is None else total - offset)
        with open(part.path, "ab") as handle:
            while block := response.read(BLOCK):
                handle.write(block)
                part.digest.update(block)
                offset += len(block)
                if progress:
                    progress(offset, total)
    return total


def download(
    out: str | os.PathLike = DEFAULT_FILENAME,
    url: str = ZENODO_URL,
    sha256: str = ZENODO_SHA256,
    progress: Progress | None = None,
    timeout: float = 60.0,
    attempts: int = 3,
) -> Path:
    """Fetch `url` to `out`, resuming `out.part`; verify SHA256; rename only when it matches."""
    out = Path(out)
    expected = sha256.strip().lower()
    if not re.fullmatch(r"[0-9a-f]{64}", expected):
        raise UserError(f"'{sha256}' is not a SHA256 checksum: give 64 hexadecimal digits.")
    if out.is_dir():
        out = out / DEFAULT_FILENAME
    out.parent.mkdir(parents=True, exist_ok=True)
    if out.exists():
        if sha256_of(out).hexdigest() == expected:
            return out
        raise UserError(f"{out} already exists and is not the expected file (its SHA256 differs): move it away or choose another --out.")
    part = PartFile(out.with_name(out.name + ".part"))
    total, last_error = None, None
    for _ in range(max(1, attempts)):
        try:
            total = _fetch_once(url, part, timeout, progress)
        except NETWORK_ERRORS as exc:
            last_error = exc
            continue
        if total is None or part.size >= total:
            break
    else:
        reason = getattr(last_error, "reason", last_error) or "the connection closed early"
        raise UserError(f"The download stopped at {part.size / 2**20:.1f} MB ({reason}): run the same command again to resume.")
    if total is not None and part.size > total:
        part.restart()
        raise UserError("The partial download was longer than the file on the server, so it was discarded: run the same command again.")
    if part.digest.hexdigest() != expected:
        got = part.digest.hexdigest()
        part.restart()
        raise UserError(f"The downloaded file's SHA256 does not match ({got[:12]}... instead of {expected[:12]}...), so it was discarded: run the same command again.")
    fsync_path(part.path)
    os.replace(part.path, out)
    return out
