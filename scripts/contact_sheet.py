"""Contact sheet: real Galaxy10 DECaLS images beside synthetic ones, one row per class.

    python scripts/contact_sheet.py [--real DIR] [--generator-version 2|5|6] [--out docs/contact_sheet.jpg]

Real images come from the real check set shipped in the package (or any folder with a labels.csv);
synthetic ones are rendered with seed 0 by the given generator version (default: the default's).
Also prints, per class, the mean colour
and background noise of both sets, so the comparison is a number as well as a picture.
"""
from __future__ import annotations

import argparse
import csv
import json
import sys
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFont

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from galaxy_core.classes import CLASSES  # noqa: E402
from galaxy_core.data.labelled_images import REAL_SAMPLE_DIR  # noqa: E402
from galaxy_core.data.synthetic import GENERATOR_VERSION, render_image  # noqa: E402

THUMB = 128
PER_SIDE = 4
LABEL_WIDTH = 150
HEADER = 28


def stats(images: list[np.ndarray]) -> dict:
    stack = np.stack(images).astype(np.float64)
    corners = np.concatenate([stack[:, :24, :24], stack[:, :24, -24:], stack[:, -24:, :24], stack[:, -24:, -24:]], axis=1)
    return {
        "background_rgb": [round(v, 1) for v in np.median(corners.reshape(len(images), -1, 3), axis=1).mean(0)],
        "centre_rgb": [round(v, 1) for v in stack[:, 112:144, 112:144].reshape(-1, 3).mean(0)],
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--real", default=str(REAL_SAMPLE_DIR), help="folder with labels.csv (default: the real check set)")
    parser.add_argument("--generator-version", type=int, default=GENERATOR_VERSION)
    parser.add_argument("--out", default=str(REPO / "docs" / "contact_sheet.jpg"))
    args = parser.parse_args()
    version = args.generator_version
    real_dir = Path(args.real)
    rows = list(csv.DictReader(open(real_dir / "labels.csv")))
    width = LABEL_WIDTH + 2 * PER_SIDE * THUMB + 12
    sheet = Image.new("RGB", (width, HEADER + len(CLASSES) * THUMB), (255, 255, 255))
    draw = ImageDraw.Draw(sheet)
    font = ImageFont.load_default()
    draw.text((LABEL_WIDTH + 4, 8), "real Galaxy10 DECaLS", fill=(0, 0, 0), font=font)
    draw.text((LABEL_WIDTH + PER_SIDE * THUMB + 16, 8), f"synthetic (galaxy_core.synthetic v{version}, seed 0)", fill=(0, 0, 0), font=font)
    report = {}
    for galaxy_class in CLASSES:
        files = sorted((r["file"] for r in rows if int(r["label"]) == galaxy_class.index), key=lambda f: ("curated" not in f, f))
        real = [np.asarray(Image.open(real_dir / f).convert("RGB")) for f in files[:PER_SIDE]]
        fake = [render_image(galaxy_class.index, seed=0, index=1000 * galaxy_class.index + k, version=version) for k in range(PER_SIDE)]
        top = HEADER + galaxy_class.index * THUMB
        draw.text((6, top + THUMB // 2 - 6), f"{galaxy_class.index} {galaxy_class.name}", fill=(0, 0, 0), font=font)
        for k, image in enumerate(real + fake):
            left = LABEL_WIDTH + k * THUMB + (12 if k >= PER_SIDE else 0)
            sheet.paste(Image.fromarray(image).resize((THUMB, THUMB), Image.Resampling.LANCZOS), (left, top))
        all_real = [np.asarray(Image.open(real_dir / f).convert("RGB")) for f in files]
        all_fake = [render_image(galaxy_class.index, seed=0, index=1000 * galaxy_class.index + k, version=version)
                    for k in range(len(files))]
        report[galaxy_class.name] = {"real": stats(all_real), "synthetic": stats(all_fake)}
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    sheet.save(args.out, quality=88)
    print(json.dumps(report, indent=1))


if __name__ == "__main__":
    main()
