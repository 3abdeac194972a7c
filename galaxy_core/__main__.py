"""The command line: `python -m galaxy_core COMMAND ...`. Errors are one line on stderr, exit code 2."""
from __future__ import annotations

import argparse
import json
import sys

from galaxy_core.errors import UserError

EXIT_USER_ERROR = 2


class _Parser(argparse.ArgumentParser):
    def error(self, message: str):  # one line instead of usage + message
        self.exit(EXIT_USER_ERROR, f"error: {message} (see `{self.prog} --help`)\n")


def _progress_bar(description: str, unit: str = "img", unit_scale: bool = False):
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


def cmd_synth(args) -> dict:
    from galaxy_core.data.default import ensure_default_dataset
    from galaxy_core.data.galaxy10 import Galaxy10
    from galaxy_core.data.synthetic import generate

    if args.default == (args.out is not None):
        raise UserError("synth needs exactly one of --out FILE or --default.")
    bar, update = _progress_bar(f"synth {args.out or 'default dataset'}")
    with bar:
        if args.default:
            path = ensure_default_dataset(progress=update)
        else:
            path = generate(args.out, args.n, seed=args.seed, balance=args.balance, workers=args.workers, progress=update)
    return Galaxy10(path).info()


def cmd_info(args) -> dict:
    from galaxy_core.data.default import resolve_dataset
    from galaxy_core.data.galaxy10 import Galaxy10

    bar, update = _progress_bar("creating the default synthetic dataset (once)")
    with bar:
        path = resolve_dataset(args.file or args.data, progress=update)
    info = Galaxy10(path).info()
    if args.split:
        from galaxy_core.data.splits import stratified_split

        info["split"] = stratified_split(Galaxy10(path).labels, args.split, args.split_seed).describe()
    return info


def cmd_download(args) -> dict:
    from galaxy_core.data.download import download

    bar, update = _progress_bar("download", unit="B", unit_scale=True)
    with bar:
        path = download(args.out, url=args.url, sha256=args.sha256, progress=update)
    return {"path": str(path), "size_bytes": path.stat().st_size, "sha256": args.sha256.lower(),
            "use_it": f"export GALAXY10_H5={path}"}


def cmd_repack(args) -> dict:
    from galaxy_core.data.galaxy10 import Galaxy10, repack

    bar, update = _progress_bar(f"repack {args.output}")
    with bar:
        path = repack(args.input, args.output, progress=update)
    return Galaxy10(path).info()


def build_parser() -> argparse.ArgumentParser:
    from galaxy_core.data.download import DEFAULT_FILENAME, ZENODO_SHA256, ZENODO_URL
    from galaxy_core.data.splits import SCHEMES

    parser = _Parser(prog="python -m galaxy_core", description="Galaxy10 DECaLS: data, training, evaluation.")
    commands = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)

    synth = commands.add_parser("synth", help="write a synthetic Galaxy10 file with the real schema")
    synth.add_argument("--out", help="output .h5 file")
    synth.add_argument("--default", action="store_true", help="create the embedded default dataset in the cache (if missing)")
    synth.add_argument("--n", type=int, default=17736, help="number of images (default: the real file's 17,736)")
    synth.add_argument("--seed", type=int, default=0)
    synth.add_argument("--balance", choices=("real", "uniform"), default="real", help="class balance (default: the real counts)")
    synth.add_argument("--workers", type=int, default=None, help="processes (default: one per core)")
    synth.set_defaults(run=cmd_synth)

    info = commands.add_parser("info", help="describe a Galaxy10 file as one JSON object")
    info.add_argument("file", nargs="?", help="the .h5 file (default: --data, $GALAXY10_H5, or the embedded default)")
    info.add_argument("--data", help="the .h5 file")
    info.add_argument("--split", choices=sorted(SCHEMES), default=None, help="also describe this train/val/test split")
    info.add_argument("--split-seed", type=int, default=0)
    info.set_defaults(run=cmd_info)

    down = commands.add_parser("download", help="download the real Galaxy10_DECals.h5 (2.54 GB), resumable and verified")
    down.add_argument("--out", default=DEFAULT_FILENAME, help=f"output file (default: ./{DEFAULT_FILENAME})")
    down.add_argument("--url", default=ZENODO_URL, help="source (default: Zenodo)")
    down.add_argument("--sha256", default=ZENODO_SHA256, help="expected SHA256 (default: the Zenodo file's)")
    down.set_defaults(run=cmd_download)

    pack = commands.add_parser("repack", help="rewrite a Galaxy10 file with one chunk per image (fast random access)")
    pack.add_argument("input")
    pack.add_argument("output")
    pack.set_defaults(run=cmd_repack)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        result = args.run(args)
    except UserError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_USER_ERROR
    except KeyboardInterrupt:
        print("interrupted: run the same command again to resume.", file=sys.stderr)
        return 130
    print(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
