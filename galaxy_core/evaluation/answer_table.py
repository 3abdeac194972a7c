"""One row per classified image, as the Classify page's batch table shows it and `predict --csv` writes it: the answer,
its confidence, how often check-set answers that confident were right, the OOD flag, and each model's vote."""
from __future__ import annotations

import csv
import io
from pathlib import Path

from galaxy_core.evaluation.metrics import confidence_trust
from galaxy_core.fileio import atomic_path

COLUMNS = ("file", "class", "label", "confidence", "right_when_this_confident", "right_of", "right_interval_low",
           "right_interval_high", "ood", "ood_score")


def answer_rows(names: list[str], results: list[dict], record: tuple | None = None) -> list[dict]:
    """`results` from Predictor.predict for the images `names`; `record` the (confidences, correct) of the same models
    on the real check set, for the trust columns (None: unknown, e.g. a model trained on those galaxies)."""
    rows = []
    for name, result in zip(names, results):
        trust = confidence_trust(result["confidence"], *record) if record else None
        row = {"file": name, "class": result["class"], "label": result["label"], "confidence": round(result["confidence"], 4),
               "right_when_this_confident": None if trust is None else round(trust["right"] / trust["of"], 4),
               "right_of": None if trust is None else f"{trust['right']}/{trust['of']}",
               "right_interval_low": None if trust is None else round(trust["low"], 4),
               "right_interval_high": None if trust is None else round(trust["high"], 4),
               "ood": result["ood"], "ood_score": None if result["ood_score"] is None else round(result["ood_score"], 3)}
        if len(result["members"]) > 1:
            row.update({f"vote_{member}": vote["class"] for member, vote in result["members"].items()})
        rows.append(row)
    return rows


def answer_csv(rows: list[dict]) -> str:
    fields = list(COLUMNS) + sorted({key for row in rows for key in row if key.startswith("vote_")})
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=fields, extrasaction="ignore", lineterminator="\n")
    writer.writeheader()
    writer.writerows({k: ("" if v is None else v) for k, v in row.items()} for row in rows)
    return out.getvalue()


def write_answer_csv(path: str | Path, rows: list[dict]) -> Path:
    with atomic_path(path) as tmp:
        tmp.write_text(answer_csv(rows))
    return Path(path)
