"""Classify a catalogue of sky positions: `predict ... --catalog CSV --out PREDICTIONS.csv`.

Reads `ra`, `dec` (and optionally `id`) per row, fetches each cutout through the cutout client while
the model classifies the previous ones (fetching overlaps inference), and streams one output row per
input row as it goes: `row, id, ra, dec, label, class, confidence, ood, ood_score, status, url`, where
`status` is `ok` or `failed: <reason>`. Rows are flushed and synced in batches, so an interrupted run
started again with the same arguments resumes: rows already in the output are neither fetched nor
predicted again, a half-written last line is dropped first, and no row is ever written twice.
"""
from __future__ import annotations

import csv
import os
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Callable, Iterator

import numpy as np

from galaxy_core.data.cutouts import CutoutClient, CutoutError
from galaxy_core.errors import UserError, one_sentence
from galaxy_core.fileio import os_error_reason
from galaxy_core.inference.predictor import Predictor

COLUMNS = ("row", "id", "ra", "dec", "label", "class", "confidence", "ood", "ood_score", "status", "url")
MAX_ROWS = 10_000_000
BATCH = 32  # cutouts per forward pass


def read_catalogue(path: str | Path) -> list[dict]:
    """The catalogue's rows as {row, id, ra, dec} (ra/dec as given: checked per row, so one bad row fails alone)."""
    path = Path(path)
    try:
        with open(path, newline="", encoding="utf-8-sig") as handle:
            reader = csv.DictReader(handle)
            columns = {name.strip().lower(): name for name in reader.fieldnames or []}
            if "ra" not in columns or "dec" not in columns:
                raise UserError(f"{path.name} needs the columns ra and dec (and optionally id); it has {', '.join(columns) or 'none'}.")
            rows = []
            for number, record in enumerate(reader):
                if number >= MAX_ROWS:
                    raise UserError(f"{path.name} has more than {MAX_ROWS:,} rows: split it into several catalogues.")
                identifier = (record.get(columns["id"]) if "id" in columns else None) or str(number)
                rows.append({"row": number, "id": identifier.strip(), "ra": record.get(columns["ra"]), "dec": record.get(columns["dec"])})
    except (UnicodeDecodeError, csv.Error) as exc:
        raise UserError(f"{path.name} is not a readable CSV file ({str(exc)[:60]}): save it as UTF-8 CSV.") from None
    except OSError as exc:
        raise UserError(f"Cannot read the catalogue {path.name} ({os_error_reason(exc)}): check the path.") from None
    if not rows:
        raise UserError(f"{path.name} has no rows: add one position per row.")
    return rows


def _finished_rows(out: Path) -> set[int]:
    """Rows already in the output; a half-written last line (an interrupted write) is cut off first."""
    if not out.exists() or out.stat().st_size == 0:
        return set()
    data = out.read_bytes()
    if not data.endswith(b"\n"):
        keep = data.rfind(b"\n") + 1
        with open(out, "r+b") as handle:
            handle.truncate(keep)
        data = data[:keep]
    lines = data.decode("utf-8", "replace").splitlines()
    if not lines or lines[0].split(",")[: len(COLUMNS)] != list(COLUMNS):
        raise UserError(f"{out.name} exists and is not a predictions file from this command: choose another --out, or delete it.")
    done = set()
    for record in csv.DictReader(lines):
        try:
            done.add(int(record["row"]))
        except (TypeError, ValueError):
            continue
    return done


def run_catalogue(predictor: Predictor, client: CutoutClient, catalogue: str | Path, out: str | Path, cutouts_dir: str | Path | None = None,
                  progress: Callable[[int, int], None] | None = None, rank: int = 0, world: int = 1, merged: Path | None = None) -> dict:
    """Classify every row (this process's share under torchrun: every world-th row) into `out`; returns counts.

    `merged`: under torchrun, the final file, whose rows (from an earlier run) count as done too."""
    rows = [r for r in read_catalogue(catalogue) if r["row"] % world == rank]
    out = Path(out)
    done = _finished_rows(out) | (_finished_rows(merged) if merged is not None and merged != out else set())
    todo = [r for r in rows if r["row"] not in done]
    counts = {"rows": len(rows), "already_done": len(rows) - len(todo), "ok": 0, "failed": 0}
    if cutouts_dir:
        Path(cutouts_dir).mkdir(parents=True, exist_ok=True)
    new_file = not out.exists() or out.stat().st_size == 0
    with open(out, "a", newline="", encoding="utf-8") as handle, ThreadPoolExecutor(max_workers=8) as pool:
        writer = csv.DictWriter(handle, fieldnames=COLUMNS)
        if new_file:
            writer.writeheader()
        for batch in _fetched_batches(pool, client, todo):
            images = [(row, cutout) for row, cutout in batch if not isinstance(cutout, str)]
            predictions = predictor.predict(np.stack([c.image.pixels for _, c in images])) if images else []
            by_row = {row["row"]: (cutout, p) for (row, cutout), p in zip(images, predictions)}
            for row, cutout in batch:
                if isinstance(cutout, str):
                    writer.writerow({"row": row["row"], "id": row["id"], "ra": row["ra"], "dec": row["dec"], "status": f"failed: {cutout}"})
                    counts["failed"] += 1
                    continue
                cutout, p = by_row[row["row"]]
                writer.writerow({"row": row["row"], "id": row["id"], "ra": cutout.ra, "dec": cutout.dec, "label": p["label"], "class": p["class"],
                                 "confidence": f"{p['confidence']:.6f}", "ood": "" if p["ood"] is None else p["ood"],
                                 "ood_score": "" if p["ood_score"] is None else f"{p['ood_score']:.4f}", "status": "ok", "url": cutout.url})
                counts["ok"] += 1
                if cutouts_dir:
                    from PIL import Image

                    Image.fromarray(cutout.image.pixels).save(Path(cutouts_dir) / f"{_safe(row['id'])}.jpg", quality=95)
            handle.flush()
            os.fsync(handle.fileno())  # a batch is on disk before the next is fetched: resume loses at most one batch
            if progress:
                progress(counts["already_done"] + counts["ok"] + counts["failed"], len(rows))
    return {**counts, "out": str(out)}


def _fetched_batches(pool: ThreadPoolExecutor, client: CutoutClient, rows: list[dict]) -> Iterator[list[tuple[dict, object]]]:
    """Batches of (row, cutout or failure reason), the next batch's fetches running while this one is classified."""
    def fetch(row):
        try:
            return client.fetch(row["ra"], row["dec"])
        except CutoutError as exc:
            return one_sentence(exc)

    batches = [rows[i : i + BATCH] for i in range(0, len(rows), BATCH)]
    pending = [pool.submit(fetch, row) for row in batches[0]] if batches else []
    for number, batch in enumerate(batches):
        ready = pending
        pending = [pool.submit(fetch, row) for row in batches[number + 1]] if number + 1 < len(batches) else []
        yield [(row, future.result()) for row, future in zip(batch, ready)]


def _safe(identifier: str) -> str:
    cleaned = "".join(c if c.isalnum() or c in "-_." else "_" for c in identifier)[:100].lstrip(".")
    return cleaned or "cutout"


def shard_outputs(out: Path, world: int) -> list[Path]:
    return [out.with_name(f"{out.name}.part{rank}of{world}") for rank in range(world)]


def merge_shards(out: Path, world: int) -> int:
    """torchrun: the ranks' part files merged into `out` in catalogue order (rows already in `out` kept)."""
    parts = shard_outputs(out, world)
    records = {}
    for path in [out, *parts]:
        if path.exists():
            _finished_rows(path)  # drops a half-written last line
            with open(path, newline="", encoding="utf-8") as handle:
                for record in csv.DictReader(handle):
                    records[int(record["row"])] = record
    tmp = out.with_name(out.name + ".merging")
    with open(tmp, "w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=COLUMNS)
        writer.writeheader()
        for row in sorted(records):
            writer.writerow({k: records[row].get(k, "") for k in COLUMNS})
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(tmp, out)
    for path in parts:
        path.unlink(missing_ok=True)
    return len(records)

