"""Batches (issue 30, item 5): zips opened safely into their images, and `predict --csv` writing the Classify page's table."""
from __future__ import annotations

import csv
import io
import zipfile

from conftest import REPO, run_cli
from galaxy_core.data.image_batches import expand_uploads
from galaxy_core.data.images import MAX_BYTES

GALAXY = (REPO / "galaxy_core/data/real_sample/g10_c0_r0.jpg").read_bytes()


def zipped(members: dict[str, bytes], compression=zipfile.ZIP_STORED) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression) as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    return buffer.getvalue()


def test_zips_are_opened_into_their_images_within_the_limit():
    archive = zipped({"a.jpg": GALAXY, "sub/b.JPG": GALAXY, "__MACOSX/._a.jpg": b"junk", ".hidden.png": b"x", "readme.txt": b"hi"})
    found = expand_uploads([("one.jpg", GALAXY), ("set.zip", archive)], limit=10)
    assert [f[0] for f in found] == ["one.jpg", "set.zip/a.jpg", "set.zip/sub/b.JPG"] and all(f[1] == GALAXY for f in found)
    capped = expand_uploads([("set.zip", archive), ("one.jpg", GALAXY), ("two.jpg", GALAXY)], limit=2)
    assert [f if isinstance(f, str) else f[0] for f in capped] == [
        "set.zip/a.jpg", "set.zip/sub/b.JPG", "Only the first 2 images were used (2 more left out): classify the rest next."]


def test_a_zip_bomb_a_broken_zip_and_an_empty_one_get_one_sentence_each():
    bomb = zipped({"big.png": b"\0" * (MAX_BYTES + 10)}, zipfile.ZIP_DEFLATED)
    assert len(bomb) < 100_000
    broken = zipped({"a.jpg": GALAXY})[:200]
    found = expand_uploads([("bomb.zip", bomb), ("broken.zip", broken), ("empty.zip", zipped({"a.txt": b"x"}))], limit=10)
    assert found == ["bomb.zip/big.png unpacks to more than 10 MB, the most an image may have: downsample it first.",
                     "broken.zip is not a zip archive that can be opened: zip the images again.",
                     "empty.zip holds no JPEG, PNG or FITS images."]


def test_predict_writes_the_batch_table_as_csv(tiny_checkpoints, tmp_path):
    images = sorted((REPO / "galaxy_core/data/real_sample").glob("g10_c2_*.jpg"))[:3]
    out = tmp_path / "table.csv"
    done = run_cli("predict", "--ensemble", "soft", "--checkpoints", tiny_checkpoints / "cnn", tiny_checkpoints / "efficientnet_b0",
                   *images, "--csv", out)
    assert done.returncode == 0, done.stderr
    rows = list(csv.DictReader(out.open()))
    assert [r["file"] for r in rows] == [str(p) for p in images]
    assert {"class", "confidence", "right_when_this_confident", "right_of", "ood", "ood_score", "vote_cnn", "vote_efficientnet_b0"} <= set(rows[0])
    right, of = map(int, rows[0]["right_of"].split("/"))
    assert 0 <= right <= of <= 60 and float(rows[0]["right_interval_low"]) <= right / of <= float(rows[0]["right_interval_high"])
    refused = run_cli("predict", "--checkpoint", tiny_checkpoints / "cnn", "--catalog", tmp_path / "c.csv", "--out", tmp_path / "o.csv",
                      "--csv", out)
    assert refused.returncode == 2 and "--csv writes the table of image files" in refused.stderr
