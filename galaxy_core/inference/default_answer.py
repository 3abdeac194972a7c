"""The recorded default: the checkpoints and rule that answer when a user names no model.

`scripts/choose_default.py` measures the candidates on the real check set and writes the winner, with that
measurement and the check-set confidences behind it, to `default.json` at the top of the checkpoints root.
The command line, every route of the service and every page decide it through `default_answer`.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from galaxy_core.errors import UserError
from galaxy_core.fileio import write_json_atomic
from galaxy_core.inference.ensemble import RULES
from galaxy_core.models.checkpoint import find_checkpoints

DEFAULT_FILE = "default.json"


@dataclass(frozen=True)
class DefaultAnswer:
    """What default.json records: checkpoint folder names under its root, the ensemble rule (None for one model),
    whether the 8 views are averaged, the measurement that chose it and the check set's confidences and correctness."""

    root: Path
    names: tuple[str, ...]
    rule: str | None
    tta: bool
    measured: dict
    confidence: np.ndarray
    correct: np.ndarray

    @property
    def checkpoints(self) -> list[Path]:
        return [self.root / name for name in self.names]

    @property
    def missing(self) -> list[str]:
        return [name for name in self.names if not (self.root / name / "meta.json").is_file()]


def read_default(root: str | Path) -> DefaultAnswer | None:
    """The default recorded under `root`, or None where none is; a file that cannot be read is an error that says so."""
    path = Path(root) / DEFAULT_FILE
    if not path.is_file():
        return None
    try:
        recorded = json.loads(path.read_text())
        names, rule = tuple(str(n) for n in recorded["checkpoints"]), recorded.get("rule")
        check_set = recorded.get("check_set") or {}
        confidence = np.asarray(check_set.get("confidence", []), dtype=np.float64)
        correct = np.asarray(check_set.get("correct", []), dtype=bool)
        if not names or any("/" in n or n.startswith(".") for n in names) or (rule not in RULES if len(names) > 1 else rule is not None) \
                or confidence.shape != correct.shape:
            raise ValueError
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        raise UserError(f"The recorded default answer {path} is unreadable or inconsistent: measure it again with "
                        "scripts/choose_default.py, or delete it.") from None
    return DefaultAnswer(Path(root), names, rule, bool(recorded.get("tta", False)), dict(recorded.get("measured") or {}), confidence, correct)


def write_default(root: str | Path, names: list[str], rule: str | None, tta: bool, measured: dict, confidence, correct, **extra) -> Path:
    path = Path(root) / DEFAULT_FILE
    write_json_atomic(path, {"checkpoints": list(names), "rule": rule, "tta": tta, "measured": measured,
                             "check_set": {"confidence": [round(float(c), 6) for c in confidence], "correct": [bool(c) for c in correct]},
                             **extra})
    return path


def make_default(root: str | Path, name: str, measured: dict, by: str) -> Path:
    """Record checkpoint `name` (a folder under `root`) as the default answer, keeping the record it replaces inside the
    new one so that `restore_previous_default` can bring it back."""
    path = Path(root) / DEFAULT_FILE
    if not (Path(root) / name / "meta.json").is_file():
        raise UserError(f"{name} is not a checkpoint under {Path(root).name}/: it cannot be the default answer.")
    previous = json.loads(path.read_text()) if path.is_file() else None
    read_default(root)  # an unreadable record is said, not silently replaced
    return write_default(root, [name], None, False, measured, [], [], previous=previous, chosen_by=by)


def restore_previous_default(root: str | Path) -> bool:
    """Put back the default answer that `make_default` replaced (removing the record when there was none before).
    Whether there was anything to restore."""
    path = Path(root) / DEFAULT_FILE
    recorded = json.loads(path.read_text()) if path.is_file() else {}
    if "previous" not in recorded:
        return False
    if recorded["previous"] is None:
        path.unlink()
    else:
        write_json_atomic(path, recorded["previous"])
    return True


@dataclass(frozen=True)
class DefaultChoice:
    """The answer a caller that names no model gets: checkpoints, rule and 8-view averaging, and the record it comes
    from (None where no default is recorded and the root's only checkpoint answers)."""

    checkpoints: list[Path]
    rule: str | None
    tta: bool
    recorded: DefaultAnswer | None

    def is_exactly(self, checkpoints, rule: str | None, tta: bool) -> bool:
        """Whether an answer by these models, rule and averaging *is* the recorded default (`"default": true`); a request
        that changes any part of it is answered as what it is."""
        return (self.recorded is not None and [Path(c).name for c in checkpoints] == list(self.recorded.names)
                and rule == self.rule and bool(tta) == self.tta)


def default_answer(root: str | Path, available=None) -> DefaultChoice:
    """The one place that decides the default answer, for the command line, every route of the service and every page:
    the recorded default where all its checkpoints are there (and, given `available`, served), else the only
    checkpoint. Several checkpoints and no usable default is `NoDefault`; each surface words its own remedy."""
    recorded = read_default(root)
    if recorded is not None and not recorded.missing and (available is None or all(n in available for n in recorded.names)):
        return DefaultChoice(recorded.checkpoints, recorded.rule, recorded.tta, recorded)
    found = find_checkpoints(root)
    if len(found) == 1:
        return DefaultChoice(found, None, False, None)
    if not found:
        raise UserError(f"No checkpoints in {root}.")
    missing = recorded.missing if recorded else []
    raise NoDefault(f"{len(found)} checkpoints in {root} and no recorded default answer"
                    + (f" ({DEFAULT_FILE} names {', '.join(missing)}, which {'is' if len(missing) == 1 else 'are'} not there)"
                       if missing else ""))


class NoDefault(UserError):
    """Several checkpoints and no usable recorded default: the caller must name models and a rule. The message is
    a clause without a full stop: each surface adds its own remedy."""
