"""What every command shares: the one-line argparse errors, ranged number types, progress bars, the checkpoints root."""
from __future__ import annotations

import argparse
import sys

from galaxy_core.errors import UserError, one_sentence

EXIT_USER_ERROR = 2


class Parser(argparse.ArgumentParser):
    def error(self, message: str):  # one line instead of usage + message
        self.exit(EXIT_USER_ERROR, f"error: {message} (see `{self.prog} --help`)\n")


def ranged(kind, low, high):
    """An argparse type that also checks the range: `--image-size 0` is refused, not trained at 256."""
    def convert(text: str):
        try:
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not {'a whole number' if kind is int else 'a number'}") from None
        if not low <= value <= high:  # also refuses nan and inf
            shown = (f"{low:,} to {high:,}") if kind is int else (f"{low:g} to {high:g}")
            raise argparse.ArgumentTypeError(f"{text} is outside {shown}")
        return value

    convert.__name__ = kind.__name__
    return convert


def progress_bar(description: str, unit: str = "img", unit_scale: bool = False):
    """A tqdm bar on stderr, fed with (done, total) callbacks."""
    from tqdm import tqdm

    bar = tqdm(desc=description, unit=unit, unit_scale=unit_scale, file=sys.stderr, dynamic_ncols=True,
               disable=None)  # disabled when stderr is not a terminal

    def update(done: int, total: int | None) -> None:
        if total is not None and bar.total != total:
            bar.total = total
            bar.refresh()
        bar.update(done - bar.n)

    return bar, update


def default_checkpoints() -> list:
    from galaxy_core.models.checkpoint import find_checkpoints
    from galaxy_core.settings import checkpoints_root

    found = find_checkpoints(checkpoints_root())
    if not found:
        raise UserError(f"No checkpoints found in {checkpoints_root()}: train one with `python -m galaxy_core train --model cnn`.")
    return found


def chosen_models(checkpoint: str | None, listed: list, rule: str | None, tta: bool | None = None) -> tuple[list, str | None, bool, bool]:
    """The models a command runs: --checkpoint DIR; --ensemble RULE over --checkpoints (default: every checkpoint);
    or, with no model flags, the default answer (`default_answer`). `tta` None: as the default records it (off for
    named models). Returns (checkpoints, rule, tta, whether the answer is exactly the recorded default)."""
    from galaxy_core.inference.default_answer import default_answer
    from galaxy_core.settings import checkpoints_root

    if checkpoint and (rule or listed):
        raise UserError("Give either --checkpoint DIR or --ensemble RULE [--checkpoints DIR ...], not both.")
    if checkpoint:
        return [checkpoint], None, bool(tta), False
    if listed or rule:
        checkpoints = listed or default_checkpoints()
        if len(checkpoints) > 1 and not rule:
            raise UserError("Several checkpoints and no ensemble rule: add --ensemble agreement|soft|f1_weighted, or give one --checkpoint.")
        return checkpoints, rule, bool(tta), False
    default_checkpoints()  # none at all: say how to train one
    choice = default_answer(checkpoints_root())
    tta = choice.tta if tta is None else tta
    return choice.checkpoints, choice.rule, tta, choice.is_exactly(choice.checkpoints, choice.rule, tta)


def add_model_flags(parser, default: bool = True, tta: bool = True) -> None:
    """--checkpoint, --ensemble, --checkpoints, --tta and --device: declared here once for every command that runs
    models. `default`: whether, with no model flags, the default answer runs (else one of them is required)."""
    import argparse

    from galaxy_core.inference.ensemble import RULES
    from galaxy_core.settings import DEVICES

    unnamed = " (with no model flags: the default answer, checkpoints/default.json)" if default else ""
    parser.add_argument("--checkpoint", help=f"one checkpoint folder{unnamed}")
    parser.add_argument("--ensemble", choices=RULES, help="combine --checkpoints by this rule"
                        + (" (default: every checkpoint in checkpoints/)" if default else ""))
    parser.add_argument("--checkpoints", nargs="+", help="checkpoint folders for --ensemble")
    if tta:
        parser.add_argument("--tta", action=argparse.BooleanOptionalAction, default=None,
                            help="average each model's probabilities over the 8 rotations/flips (8x the compute); default: "
                                 + ("as the default answer does without model flags, else off" if default else "off"))
    parser.add_argument("--device", default="auto", choices=DEVICES)


def images_and_checkpoints(images: list, listed: list | None) -> tuple[list, list]:
    """`--checkpoints A B img.jpg` is the documented form: a checkpoint is a folder, so a file with a suffix in that
    greedy list is one of the images that follow it. Returns (images, checkpoints)."""
    from pathlib import Path

    listed = listed or []
    found = [*images, *[p for p in listed if not Path(p).is_dir() and Path(p).suffix]]
    return found, [p for p in listed if p not in found]


def remedy(exc: UserError) -> str:
    """The core's errors say what is wrong; this adds what to do on the command line, where the core leaves it out."""
    from galaxy_core.inference.default_answer import NoDefault
    from galaxy_core.inference.ood import OodFileError

    if isinstance(exc, OodFileError):
        return f"{exc}: run `python -m galaxy_core calibrate-ood --checkpoint {exc.directory}` to fit them."
    if isinstance(exc, NoDefault):
        return (f"{exc}: name the models with --checkpoint DIR or --ensemble RULE [--checkpoints DIR ...], or record a default "
                "with scripts/choose_default.py.")
    return one_sentence(exc)
