"""The command line: `python -m galaxy_core COMMAND ...`, one module per group of commands, each adding its
subcommands with `add_commands`. Every command prints one JSON object; errors are one line on stderr, exit code 2."""
from __future__ import annotations

import json
import math
import os
import sys

from galaxy_core.cli import data, evaluation, explaining, labelling, prediction, serving, training
from galaxy_core.cli.common import EXIT_USER_ERROR, Parser, remedy
from galaxy_core.errors import UserError
from galaxy_core.fileio import os_error_reason

COMMAND_GROUPS = (data, training, evaluation, prediction, explaining, labelling, serving)  # `--help` lists their commands in this order


def build_parser() -> Parser:
    parser = Parser(prog="python -m galaxy_core", description="Galaxy10 DECaLS: data, training, evaluation.")
    commands = parser.add_subparsers(dest="command", required=True, parser_class=Parser)
    for group in COMMAND_GROUPS:
        group.add_commands(commands)
    return parser


def _interrupt(signum, frame):
    raise KeyboardInterrupt  # a cancelled background run stops like Ctrl-C: resumable


def main(argv: list[str] | None = None) -> int:
    import signal

    if hasattr(signal, "SIGTERM"):
        signal.signal(signal.SIGTERM, _interrupt)
    from galaxy_core.settings import quiet_library_warnings

    quiet_library_warnings()
    args = build_parser().parse_args(argv)
    try:
        result = args.run(args)
    except UserError as exc:
        print(f"error: {remedy(exc)}", file=sys.stderr)
        return EXIT_USER_ERROR
    except KeyboardInterrupt:
        print("interrupted: run the same command again to resume.", file=sys.stderr)
        return 130
    except MemoryError:
        print("error: this machine ran out of memory: use fewer or smaller images, a smaller --batch-size or a smaller model.", file=sys.stderr)
        return EXIT_USER_ERROR
    except OSError as exc:  # a path too long, a full disk, a permission: the input's fault, not a bug
        print(f"error: a file could not be read or written ({os_error_reason(exc)}): check the paths given and the free space.",
              file=sys.stderr)
        return EXIT_USER_ERROR
    try:
        print(json.dumps(json_safe(result), indent=2, allow_nan=False), flush=True)
    except BrokenPipeError:  # the reader left early (`... | head`): not an error worth a traceback
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())  # so the exit-time flush finds somewhere to write
        return 141
    return 0


def json_safe(value):
    """Strict JSON: NaN and infinities become null (json.dumps would write NaN, which no parser accepts)."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {k: json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [json_safe(v) for v in value]
    return value
