"""Speed of labelling and adapting (issue "Teach it your galaxies"), with the recorded default answer, on this CPU.

    python3 benchmarks/bench_labelling.py [--images 1000] [--labels 40]

- ranking a folder of IMAGES cutouts with the default (`queue`; target <= 60 s for 1,000): the folder is written once
  from the real-size synthetic file bench_reader.py generates, as PNG cutouts;
- the Label page: the time from an answer to the next galaxy (AppTest; target <= 1 s), on the real check set's 60;
- one adaptation (`adapt`, the default ensemble, residual) on LABELS real check-set labels (target <= 2 minutes).
Runs on a copy of the checkpoints and a scratch results folder: nothing of the repository's is changed.
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))


def cli(*arguments) -> tuple[float, dict]:
    started = time.perf_counter()
    done = subprocess.run([sys.executable, "-m", "galaxy_core", *map(str, arguments)], cwd=REPO, capture_output=True, text=True)
    if done.returncode:
        raise SystemExit(done.stderr)
    return time.perf_counter() - started, json.loads(done.stdout)


def write_folder(folder: Path, count: int) -> None:
    from PIL import Image

    from galaxy_core.data.galaxy10 import Galaxy10
    from galaxy_core.settings import cache_dir

    data = Galaxy10(cache_dir() / "bench_galaxy10_17736.h5") if (cache_dir() / "bench_galaxy10_17736.h5").exists() else None
    if data is None:
        raise SystemExit("run benchmarks/bench_reader.py once first: it generates the real-size synthetic file this folder is cut from")
    folder.mkdir(parents=True, exist_ok=True)
    for i in range(count):
        Image.fromarray(data.image(i)).save(folder / f"cutout_{i:05d}.png")


def page_answers(images: Path) -> list[float]:
    from streamlit.testing.v1 import AppTest

    from galaxy_core.data.labelled_images import real_sample

    truth = {p.name: int(label) for p, label in zip(real_sample().files, real_sample().labels)}
    at = AppTest.from_file(str(REPO / "app.py"), default_timeout=600)
    at.run()
    at.switch_page("app_pages/label.py").run()
    at.radio(key="label_source").set_value("a folder on this machine").run()
    at.text_input(key="label_folder").input(str(images)).run()
    at.number_input(key="label_every").set_value(500).run()  # no adaptation in the background while timing
    times = []
    for _ in range(10):
        name = [e.proto.imgs[0].caption for e in at.get("image") if e.proto.imgs][0]
        started = time.perf_counter()
        at.button(key=f"label_class_{truth[name]}").click().run()
        times.append(time.perf_counter() - started)
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=1000)
    parser.add_argument("--labels", type=int, default=40)
    args = parser.parse_args()
    from galaxy_core.data.labelled_images import real_sample

    with tempfile.TemporaryDirectory() as scratch:
        scratch = Path(scratch)
        shutil.copytree(REPO / "checkpoints", scratch / "checkpoints")
        os.environ.update(GALAXY_CHECKPOINTS=str(scratch / "checkpoints"), GALAXY_RESULTS=str(scratch / "results"))
        write_folder(scratch / "cutouts", args.images)
        seconds, queue = cli("queue", "--images", scratch / "cutouts", "--n", 5, "--device", "cpu")
        print(f"queue over {args.images:,} cutouts with the default ({len(queue['checkpoints'])} models): {seconds:.1f} s (target <= 60 s)")

        real = scratch / "real"
        real.mkdir()
        sample = real_sample()
        for path in sample.files:
            shutil.copy(path, real / path.name)
        times = page_answers(real)
        print(f"Label page, answer to next galaxy: median {sorted(times)[len(times) // 2]:.2f} s, slowest {max(times):.2f} s of 10 (target <= 1 s)")

        labels = scratch / "labels.csv"
        chosen = list(range(0, len(sample), max(1, len(sample) // args.labels)))[: args.labels]
        labels.write_text("file,label\n" + "".join(f"{sample.files[i].name},{int(sample.labels[i])}\n" for i in chosen))
        seconds, adapted = cli("adapt", "--images", real, "--labels", labels, "--out", scratch / "checkpoints" / "adapted", "--device", "cpu")
        print(f"adapt on {adapted['labels']} labels ({len(adapted['base'])} base models, curve included): {seconds:.1f} s (target <= 120 s); "
              f"cross-validated {adapted['cv_accuracy']:.0%} vs the default's {adapted['baseline_accuracy']:.0%} on the same galaxies")


if __name__ == "__main__":
    main()
