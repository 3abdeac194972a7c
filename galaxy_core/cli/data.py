"""Data commands: synth, info, download, repack, import."""
from __future__ import annotations

from galaxy_core.cli.common import progress_bar, ranged
from galaxy_core.errors import UserError
from galaxy_core.fileio import require_writable


def cmd_synth(args) -> dict:
    from galaxy_core.data.default import ensure_default_dataset
    from galaxy_core.data.galaxy10 import Galaxy10
    from galaxy_core.data.synthetic import GENERATOR_VERSION, generate

    if args.default == (args.out is not None):
        raise UserError("synth needs exactly one of --out FILE or --default.")
    version = GENERATOR_VERSION if args.generator_version is None else args.generator_version
    if args.default and args.masks:
        raise UserError("The default dataset has no masks (its schema stays the real file's): write a file with masks by "
                        "--out FILE --masks instead.")
    if args.default and version != GENERATOR_VERSION:
        raise UserError(f"The default dataset is always generator v{GENERATOR_VERSION}, the shipped checkpoints' own: "
                        f"write v{version} with --out FILE instead.")
    if args.out:
        require_writable(args.out)
    bar, update = progress_bar(f"synth {args.out or 'default dataset'}")
    with bar:
        if args.default:
            path = ensure_default_dataset(progress=update)
        else:
            path = generate(args.out, args.n, seed=args.seed, balance=args.balance, workers=args.workers, progress=update,
                            version=version, masks=args.masks)
    return Galaxy10(path).info()


def cmd_info(args) -> dict:
    from galaxy_core.data.default import resolve_dataset
    from galaxy_core.data.galaxy10 import Galaxy10

    bar, update = progress_bar("creating the default synthetic dataset (once)")
    with bar:
        path = resolve_dataset(args.file or args.data, progress=update)
    data = Galaxy10(path)
    info = data.info()
    if args.verify:
        bar, update = progress_bar(f"verify {path.name}")
        with bar:
            data.verify(progress=update)
        info["verified"] = f"all {len(data):,} images decode"
    if args.split:
        from galaxy_core.data.splits import stratified_split

        info["split"] = stratified_split(Galaxy10(path).labels, args.split, args.split_seed).describe()
    return info


def cmd_download(args) -> dict:
    from galaxy_core.data.download import download

    require_writable(args.out)
    bar, update = progress_bar("download", unit="B", unit_scale=True)
    with bar:
        path = download(args.out, url=args.url, sha256=args.sha256, progress=update)
    return {"path": str(path), "size_bytes": path.stat().st_size, "sha256": args.sha256.lower(),
            "use_it": f"export GALAXY10_H5={path}"}


def cmd_repack(args) -> dict:
    from galaxy_core.data.galaxy10 import Galaxy10
    from galaxy_core.data.galaxy10_writer import repack

    require_writable(args.output)
    bar, update = progress_bar(f"repack {args.output}")
    with bar:
        path = repack(args.input, args.output, progress=update)
    return Galaxy10(path).info()


def cmd_import(args) -> dict:
    from galaxy_core.data.galaxy10 import Galaxy10
    from galaxy_core.data.galaxy10_writer import import_images
    from galaxy_core.data.labelled_images import read_labelled_folder

    folder = read_labelled_folder(args.images, args.labels)
    require_writable(args.out)
    bar, update = progress_bar(f"import {folder.name}")
    with bar:
        path = import_images(folder, args.out, progress=update)
    return Galaxy10(path).info()



def add_commands(commands) -> None:
    from galaxy_core.data.download import DEFAULT_FILENAME, ZENODO_SHA256, ZENODO_URL
    from galaxy_core.data.splits import SCHEMES

    synth = commands.add_parser("synth", help="write a synthetic Galaxy10 file with the real schema")
    synth.add_argument("--out", help="output .h5 file")
    synth.add_argument("--default", action="store_true", help="create the embedded default dataset in the cache (if missing)")
    synth.add_argument("--n", type=ranged(int, 1, 2_000_000), default=17736, help="number of images (default: the real file's 17,736)")
    synth.add_argument("--seed", type=ranged(int, 0, 2**32 - 1), default=0)
    synth.add_argument("--balance", choices=("real", "uniform"), default="real", help="class balance (default: the real counts)")
    synth.add_argument("--workers", type=ranged(int, 1, 256), default=None, help="processes (default: one per core)")
    synth.add_argument("--generator-version", type=int, default=None,
                       help="2 (default: the shipped checkpoints were trained on it), 5 or 6 (closer to the real check set's "
                            "image statistics; galaxy_core/data/synthetic/looks.py says how each differs)")
    synth.add_argument("--masks", action="store_true",
                       help="also write a 'masks' dataset (N, 256, 256) uint8: 1 the target galaxy, 2 stars and neighbours, 0 sky "
                            "(the ground truth bench_explain.py scores explanations on)")
    synth.set_defaults(run=cmd_synth)
    info = commands.add_parser("info", help="describe a Galaxy10 file as one JSON object")
    info.add_argument("file", nargs="?", help="the .h5 file (default: --data, $GALAXY10_H5, or the embedded default)")
    info.add_argument("--data", help="the .h5 file")
    info.add_argument("--verify", action="store_true", help="read and decode every image (finds a corrupt chunk, names its index)")
    info.add_argument("--split", choices=sorted(SCHEMES), default=None, help="also describe this train/val/test split")
    info.add_argument("--split-seed", type=ranged(int, 0, 2**32 - 1), default=0)
    info.set_defaults(run=cmd_info)
    down = commands.add_parser("download", help="download the real Galaxy10_DECals.h5 (2.54 GB), resumable and verified")
    down.add_argument("--out", default=DEFAULT_FILENAME, help=f"output file (default: ./{DEFAULT_FILENAME})")
    down.add_argument("--url", default=ZENODO_URL, help="source (default: Zenodo)")
    down.add_argument("--sha256", default=ZENODO_SHA256, help="expected SHA256 (default: the Zenodo file's)")
    down.set_defaults(run=cmd_download)
    imp = commands.add_parser("import", help="turn a folder of labelled JPEG, PNG or FITS images into a Galaxy10-schema file")
    imp.add_argument("--images", required=True, help="folder with labels.csv (file,label) or class-named sub-folders")
    imp.add_argument("--labels", help="a CSV with columns file,label (default: the folder's labels.csv)")
    imp.add_argument("--out", required=True, help="the .h5 file to write")
    imp.set_defaults(run=cmd_import)
    pack = commands.add_parser("repack", help="rewrite a Galaxy10 file with one chunk per image (fast random access)")
    pack.add_argument("input")
    pack.add_argument("output")
    pack.set_defaults(run=cmd_repack)
