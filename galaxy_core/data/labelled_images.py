"""Folders of labelled JPEG, PNG or FITS images: a `file,label` CSV or class-named sub-folders, and the real
check set shipped with the package (`real_sample/`). Images are decoded in batches, never all at once."""
from __future__ import annotations

import csv
import functools
import hashlib
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

import numpy as np

from galaxy_core.classes import CLASSES, NUM_CLASSES
from galaxy_core.data.fits import FITS_SUFFIXES
from galaxy_core.data.images import load_image
from galaxy_core.errors import UserError

REAL_SAMPLE_DIR = Path(__file__).resolve().parent / "real_sample"
REAL_SAMPLE_NAME = "real_sample"
REAL_SAMPLE_NOTE = ("real check set: 60 Galaxy10 DECaLS galaxies shipped with galaxy_core, a development set "
                    "(looked at while tuning the generator), not an independent test")
LABELS_FILE = "labels.csv"
IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", *FITS_SUFFIXES)
MAX_IMAGES = 100_000  # a folder evaluation decodes in batches; this only bounds the file list


def _key(text: str) -> str:
    return re.sub(r"[^a-z0-9]", "", text.lower())


_CLASS_KEYS = {key: c.index for c in CLASSES for key in (_key(c.name), _key(c.short), str(c.index))}


def class_index(value: str, where: str) -> int:
    """A label given as 0-9, a class name ("Round Smooth") or its short name ("round")."""
    index = _CLASS_KEYS.get(_key(str(value)))
    if index is None:
        raise UserError(f"{where}: '{value}' is not a Galaxy10 class: use 0-{NUM_CLASSES - 1} or a class name such as "
                        f"'{CLASSES[2].name}'.")
    return index


@dataclass(frozen=True)
class LabelledImages:
    name: str  # "real_sample", or the folder's name
    root: Path
    files: tuple[Path, ...]
    labels: np.ndarray  # (N,) int64
    note: str = ""

    def __len__(self) -> int:
        return len(self.files)

    @property
    def is_real_sample(self) -> bool:
        """The whole shipped check set (a subset of it, say a cross-validation fold, is not)."""
        return self.root == REAL_SAMPLE_DIR and self.name == REAL_SAMPLE_NAME

    def real_sample_overlap(self) -> int:
        """How many of these images are real check-set images (by content, wherever they were copied):
        a model trained on them can no longer be scored on the check set."""
        shipped = _real_sample_digests()
        return sum(hashlib.sha256(path.read_bytes()).hexdigest() in shipped for path in self.files)

    def batches(self, batch_size: int = 32) -> Iterator[np.ndarray]:
        """uint8 (B, 256, 256, 3) images, in file order, decoded as uploads are."""
        for start in range(0, len(self.files), batch_size):
            yield np.stack([load_image(path).pixels for path in self.files[start : start + batch_size]])

    def pixels(self) -> np.ndarray:
        """Every image at once: for small sets only (the real check set is 12 MB)."""
        return np.concatenate(list(self.batches()))


def _from_csv(root: Path, labels_csv: Path) -> tuple[list[Path], list[int]]:
    try:
        with open(labels_csv, newline="", encoding="utf-8-sig") as handle:
            rows = list(csv.DictReader(handle))
    except (OSError, UnicodeDecodeError, csv.Error) as exc:
        raise UserError(f"{labels_csv} cannot be read as CSV ({type(exc).__name__}): give a UTF-8 CSV with columns file,label.") from None
    if not rows or not {"file", "label"} <= set(rows[0]):
        raise UserError(f"{labels_csv} needs the columns file and label (one row per image): add a header line 'file,label'.")
    files, labels, seen = [], [], set()
    for line, row in enumerate(rows, start=2):
        name, value = (row.get("file") or "").strip(), (row.get("label") or "").strip()
        path = (root / name).resolve()
        if not name or root.resolve() not in path.parents:
            raise UserError(f"{labels_csv} line {line}: '{name}' is not a file inside {root}: list file names relative to that folder.")
        if not path.is_file():
            raise UserError(f"{labels_csv} line {line}: {name} does not exist in {root}: fix the name or remove the row.")
        if path in seen:
            raise UserError(f"{labels_csv} line {line}: {name} is listed twice: keep one row per image.")
        seen.add(path)
        files.append(path)
        labels.append(class_index(value, f"{labels_csv} line {line}"))
    return files, labels


def _from_subfolders(root: Path) -> tuple[list[Path], list[int]]:
    files, labels = [], []
    for folder in sorted(p for p in root.iterdir() if p.is_dir()):
        index = class_index(folder.name, f"Sub-folder {folder}")
        found = sorted(p for p in folder.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
        files += found
        labels += [index] * len(found)
    return files, labels


def labels_location(images: str | Path, labels_csv: str | Path | None = None) -> tuple[Path, Path]:
    """(the folder, the labels CSV to read: `labels_csv`, else the folder's labels.csv, which may not exist), or one
    sentence when the folder or a named CSV is missing."""
    root = Path(images).expanduser()
    if not root.is_dir():
        raise UserError(f"{root} is not a folder: give the folder that holds the labelled images.")
    csv_path = Path(labels_csv).expanduser() if labels_csv else root / LABELS_FILE
    if labels_csv and not csv_path.is_file():
        raise UserError(f"{csv_path} does not exist: give a CSV with columns file,label.")
    return root, csv_path


def read_labelled_folder(images: str | Path, labels_csv: str | Path | None = None) -> LabelledImages:
    """The images of a folder with their labels: from `labels_csv` (or the folder's labels.csv), else
    from class-named sub-folders (e.g. `round/`, `Barred Spiral/`, `5/`)."""
    root, csv_path = labels_location(images, labels_csv)
    files, labels = _from_csv(root, csv_path) if csv_path.is_file() else _from_subfolders(root)
    if not files:
        raise UserError(f"{root} holds no labelled images: add a labels.csv (file,label) or class-named sub-folders of JPEG, PNG or FITS files.")
    if len(files) > MAX_IMAGES:
        raise UserError(f"{root} lists {len(files):,} images; at most {MAX_IMAGES:,} are evaluated at once: split the folder.")
    name = REAL_SAMPLE_NAME if root.resolve() == REAL_SAMPLE_DIR else root.resolve().name
    note = REAL_SAMPLE_NOTE if name == REAL_SAMPLE_NAME else ""
    return LabelledImages(name, root.resolve(), tuple(files), np.asarray(labels, dtype=np.int64), note)


@functools.cache
def _real_sample_digests() -> frozenset[str]:
    return frozenset(hashlib.sha256(path.read_bytes()).hexdigest() for path in REAL_SAMPLE_DIR.iterdir() if path.suffix.lower() in (".jpg", ".jpeg", ".png"))


def real_sample() -> LabelledImages:
    """The real check set that ships with the package."""
    return read_labelled_folder(REAL_SAMPLE_DIR)


def read_image_folder(images: str | Path, labels_csv: str | Path | None = None) -> LabelledImages:
    """A folder of cutouts, labelled or not: labelled as `read_labelled_folder` reads them where it finds labels (a
    labels.csv, `labels_csv` or class-named sub-folders), else every JPEG, PNG or FITS file directly in it, label -1."""
    root = Path(images).expanduser()
    if not root.is_dir():
        raise UserError(f"{root} is not a folder: give the folder that holds the cutouts.")
    if labels_csv or (root / LABELS_FILE).is_file() or any(p.is_dir() for p in root.iterdir()):
        return read_labelled_folder(root, labels_csv)
    files = sorted(p for p in root.iterdir() if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES and not p.name.startswith("."))
    if not files:
        raise UserError(f"{root} holds no JPEG, PNG or FITS file: give a folder of cutouts.")
    if len(files) > MAX_IMAGES:
        raise UserError(f"{root} holds {len(files):,} images; at most {MAX_IMAGES:,} are read at once: split the folder.")
    name = REAL_SAMPLE_NAME if root.resolve() == REAL_SAMPLE_DIR else root.resolve().name
    return LabelledImages(name, root.resolve(), tuple(files), np.full(len(files), -1, dtype=np.int64))
