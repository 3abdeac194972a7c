"""Batches of uploaded images: files as they come, and zip archives opened into the images they hold, safely (each
member's declared size checked before it is read, so a zip bomb is refused, and never more than a batch's worth)."""
from __future__ import annotations

import io
import zipfile
from pathlib import PurePosixPath

from galaxy_core.data.images import MAX_BYTES
from galaxy_core.data.labelled_images import IMAGE_SUFFIXES

ZIP_MAGIC = b"PK\x03\x04"


def _zip_members(name: str, data: bytes, room: int) -> tuple[list[tuple[str, bytes] | str], int]:
    """The images in a zip (up to `room`), and how many more it held; a bad archive or member is one sentence."""
    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
        infos = [i for i in archive.infolist() if not i.is_dir() and PurePosixPath(i.filename).suffix.lower() in IMAGE_SUFFIXES
                 and not any(part.startswith((".", "__MACOSX")) for part in PurePosixPath(i.filename).parts)]
    except (zipfile.BadZipFile, OSError, ValueError, NotImplementedError, EOFError):
        return [f"{name} is not a zip archive that can be opened: zip the images again."], 0
    if not infos:
        return [f"{name} holds no JPEG, PNG or FITS images."], 0
    out: list[tuple[str, bytes] | str] = []
    for info in infos[:room]:
        shown = f"{name}/{info.filename}"
        if info.file_size > MAX_BYTES:
            out.append(f"{shown} unpacks to more than {MAX_BYTES // 2**20} MB, the most an image may have: downsample it first.")
            continue
        try:
            with archive.open(info) as member:
                out.append((shown, member.read(MAX_BYTES + 1)))
        except (zipfile.BadZipFile, OSError, ValueError, NotImplementedError, EOFError, RuntimeError):
            out.append(f"{shown} cannot be unpacked (damaged or encrypted): zip it again.")
    return out, max(len(infos) - room, 0)


def expand_uploads(files: list[tuple[str, bytes]], limit: int) -> list[tuple[str, bytes] | str]:
    """(name, bytes) of every image in `files`, zips opened, at most `limit` of them; a sentence for each file that
    cannot be used and one for what was left out."""
    out: list[tuple[str, bytes] | str] = []
    taken, left_out = 0, 0
    for name, data in files:
        room = limit - taken
        if room <= 0:
            left_out += 1
            continue
        if data[:4] == ZIP_MAGIC:
            members, more = _zip_members(name, data, room)
            left_out += more
        else:
            members = [(name, data)]
        out.extend(members)
        taken += sum(isinstance(m, tuple) for m in members)
    if left_out:
        out.append(f"Only the first {limit} images were used ({left_out} more left out): classify the rest next.")
    return out
