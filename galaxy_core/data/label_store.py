"""A person's answers about the galaxies of one folder: `labels.csv` (`file,label`, the format `import` and
`evaluate --labels` read) and `skipped.csv` (the galaxies skipped or marked "not a galaxy", kept apart so that
labels.csv holds only Galaxy10 classes).

The Label page writes one answer at a time under `results/labels/NAME/`: each write re-reads both files under a lock,
changes one row and replaces the files atomically, so a reload, a second tab or a crash loses nothing. Reading is
lenient where `read_labelled_folder` is strict: a row with an unknown class, a duplicate, a file that is gone, or the
same image under two names (found by content) is left out with one sentence, and the rest is kept.
"""
from __future__ import annotations

import csv
import hashlib
import io
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from galaxy_core.classes import CLASSES
from galaxy_core.data.labelled_images import IMAGE_SUFFIXES, LABELS_FILE, LabelledImages, class_index
from galaxy_core.errors import UserError
from galaxy_core.fileio import exclusive_lock, write_bytes_atomic

SKIPPED_FILE = "skipped.csv"
SKIP, NOT_GALAXY = "skip", "not a galaxy"
OTHER_ANSWERS = (SKIP, NOT_GALAXY)
MAX_NOTES = 5


@dataclass
class Answers:
    """file name (relative to the images folder) -> class index, or SKIP / NOT_GALAXY; and what reading left out."""

    labels: dict[str, int] = field(default_factory=dict)
    other: dict[str, str] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)

    @property
    def answered(self) -> set[str]:
        return set(self.labels) | set(self.other)

    def __len__(self) -> int:
        return len(self.labels)


def image_files(root: Path) -> list[Path]:
    """The cutouts directly in a folder, sorted by name (hidden files and labels.csv left out)."""
    return sorted(p for p in root.iterdir() if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES and not p.name.startswith("."))


def _rows(path: Path) -> list[dict]:
    if not path.is_file():
        return []
    try:
        with open(path, newline="", encoding="utf-8-sig") as handle:
            rows = list(csv.DictReader(handle))
    except (OSError, UnicodeDecodeError, csv.Error) as exc:
        raise UserError(f"{path} cannot be read as CSV ({type(exc).__name__}): give a UTF-8 CSV with columns file,label.") from None
    if rows and not {"file", "label"} <= set(rows[0]):
        raise UserError(f"{path} needs the columns file and label: add a header line 'file,label'.")
    return rows


def read_answers(labels_csv: Path, images: Path | None = None) -> Answers:
    """The answers recorded in `labels_csv` (and the skipped.csv beside it); with `images`, rows whose file is not in
    that folder, and second names of one image (same content), are left out with a note."""
    answers = Answers()
    problems: list[str] = []
    for name, path in ((LABELS_FILE, Path(labels_csv)), (SKIPPED_FILE, Path(labels_csv).parent / SKIPPED_FILE)):
        for line, row in enumerate(_rows(path), start=2):
            file, value = (row.get("file") or "").strip(), (row.get("label") or "").strip()
            where = f"{path.name} line {line}"
            if not file or Path(file).is_absolute() or ".." in Path(file).parts:
                problems.append(f"{where}: '{file}' is not a file name inside the folder")
                continue
            if file in answers.labels or file in answers.other:
                problems.append(f"{where}: {file} is answered twice (the later answer is kept)")
                answers.labels.pop(file, None), answers.other.pop(file, None)
            if name == SKIPPED_FILE:
                if value in OTHER_ANSWERS:
                    answers.other[file] = value
                else:
                    problems.append(f"{where}: '{value}' is neither '{SKIP}' nor '{NOT_GALAXY}'")
                continue
            try:
                answers.labels[file] = class_index(value, where)
            except UserError as exc:
                problems.append(str(exc).split(": use")[0])
    if images is not None:
        problems += _drop_missing_and_copies(answers, Path(images))
    if problems:
        more = f" (and {len(problems) - MAX_NOTES} more)" if len(problems) > MAX_NOTES else ""
        answers.notes.append(f"{len(problems)} row{'s' if len(problems) > 1 else ''} of {Path(labels_csv).name} left out, the rest kept: "
                             + "; ".join(problems[:MAX_NOTES]) + more + ".")
    return answers


def _drop_missing_and_copies(answers: Answers, images: Path) -> list[str]:
    problems, seen = [], {}
    for file in list(answers.labels):  # in row order: the first name of an image is the one kept
        path = images / file
        if not path.is_file():
            problems.append(f"{file} is no longer in {images.name}")
            del answers.labels[file]
            continue
        digest = hashlib.sha256(path.read_bytes()).hexdigest()
        if digest in seen:
            first = seen[digest]
            agree = answers.labels[first] == answers.labels[file]
            problems.append(f"{file} is the same image as {first}" + ("" if agree else " with another label (both left out)"))
            del answers.labels[file]
            if not agree:
                answers.labels.pop(first, None)
            continue
        seen[digest] = file
    return problems


def _csv_bytes(rows: list[tuple[str, str]]) -> bytes:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(["file", "label"])
    writer.writerows(rows)
    return out.getvalue().encode()


def write_answers(folder: Path, answers: Answers) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    write_bytes_atomic(folder / LABELS_FILE, _csv_bytes([(f, CLASSES[c].name) for f, c in sorted(answers.labels.items())]))
    write_bytes_atomic(folder / SKIPPED_FILE, _csv_bytes(sorted(answers.other.items())))


def record_answer(folder: Path, file: str, answer: int | str) -> Answers:
    """Write one answer (a class index, SKIP or NOT_GALAXY) into `folder`'s files at once, keeping every other row
    another tab or process wrote meanwhile; returns what the folder now holds."""
    if not (isinstance(answer, int) and 0 <= answer < len(CLASSES)) and answer not in OTHER_ANSWERS:
        raise UserError(f"'{answer}' is not an answer: give a class index 0-9, '{SKIP}' or '{NOT_GALAXY}'.")
    with exclusive_lock(folder / ".labels.lock"):
        answers = read_answers(folder / LABELS_FILE)
        answers.labels.pop(file, None), answers.other.pop(file, None)
        if isinstance(answer, int):
            answers.labels[file] = answer
        else:
            answers.other[file] = answer
        write_answers(folder, answers)
    return answers


def labelled_images(images: Path, answers: Answers, name: str) -> LabelledImages:
    """The labelled part of a folder as LabelledImages (what `adapt` and the evaluation read)."""
    files = sorted(answers.labels)
    return LabelledImages(name, images.resolve(), tuple(images.resolve() / f for f in files),
                          np.array([answers.labels[f] for f in files], dtype=np.int64))
