"""Public mode promises that visitors name no server path (README, "Deploying on Streamlit Community Cloud"). This walks
every page of the app in public mode, every choice of its radio buttons and select boxes one at a time, types a path
into every free text box it finds and fails if anything under that path was looked at: so the next page or widget that
reads a typed path fails here, not in front of a visitor. The same walk in local mode must find the boxes that do read
paths there (the sidebar's Galaxy10 file, the study folder), which shows the walk can fail."""
from __future__ import annotations

import contextlib
import os
import re
import sys

import pytest

from conftest import REPO, write_galaxy10

# The pages as app.py's router lists them: a page added there and not here fails test_the_walk_covers_every_page.
PAGES = ["app_pages/overview.py", "app_pages/dataset.py", "app_pages/classify.py", "app_pages/evaluation.py",
         "app_pages/latent.py", "app_pages/label.py", "app_pages/train.py"]
MAX_OPTIONS = 4  # per radio or select box: enough to open every source and mode the pages have, not every model


class PathWatch:
    """Records every stat, listing and open of a path under `marker` while active: os.stat/lstat/listdir/scandir are
    wrapped (pathlib calls them at call time) and an audit hook sees open() and os.open (h5py's C open comes after a
    stat, which is seen)."""

    def __init__(self, marker: str):
        self.marker, self.seen, self.active = marker, [], False
        sys.addaudithook(self._audit)  # a hook cannot be removed; it idles once the test is over

    def _note(self, what: str, path) -> None:
        if self.active and isinstance(path, (str, bytes, os.PathLike)):
            text = os.fsdecode(os.fspath(path))
            if self.marker in text:
                self.seen.append(f"{what} {text}")

    def _audit(self, event: str, args) -> None:
        if event in ("open", "os.listdir", "os.scandir", "glob.glob", "os.chdir") and args:
            self._note(event, args[0])

    @contextlib.contextmanager
    def wrapped(self, monkeypatch):
        for name in ("stat", "lstat", "listdir", "scandir"):
            original = getattr(os, name)

            def spy(path=".", *args, _original=original, _name=name, **kwargs):
                self._note(f"os.{_name}", path)
                return _original(path, *args, **kwargs)

            monkeypatch.setattr(os, name, spy)
        self.active = True
        try:
            yield self
        finally:
            self.active = False


@pytest.fixture
def bait(tmp_path, tiny_checkpoints):
    """A folder anything that reads a typed path would find something in: a study's table, a Galaxy10 file,
    checkpoints, an image. Its name is the marker the watch looks for."""
    folder = tmp_path / "typed-path-bait"
    folder.mkdir()
    (folder / "results.csv").write_text("model,accuracy\nbait,0.5\n")
    (folder / "results.md").write_text("# bait\n\nbait study\n\n| model |\n")
    write_galaxy10(folder / "bait.h5", n=10, side=16)
    (folder / "labels.csv").write_text("file,label\nbait.png,0\n")
    return folder


def widget_choices(at) -> list[tuple[str, str, int]]:
    """(kind, key, option index) for each radio and select box option on the page now, beyond the one chosen."""
    found = []
    for kind in ("radio", "selectbox"):
        for widget in getattr(at, kind):
            if widget.key is None or widget.disabled:
                continue
            if any(_label(widget, option) != option for option in widget.options):
                continue  # a format_func (the model boxes): AppTest can set such a box only by its raw values, unknown here
            current = widget.index
            found += [(kind, widget.key, i) for i in range(len(widget.options)) if i != current][:MAX_OPTIONS]
    return found


def _label(widget, option):
    try:
        return str(widget.format_func(option))
    except Exception:  # a format_func that only takes its raw values
        return None


def choose(widget, index: int):
    """Select the option at `index` by position: select boxes show formatted labels."""
    if widget.type == "selectbox":
        return widget.select_index(index)
    return widget.set_value(widget.options[index])  # the pages' radios have no format_func


def text_boxes(at) -> list[tuple[str, str]]:
    return [(kind, box.key) for kind in ("text_input", "text_area", "chat_input") for box in getattr(at, kind, [])
            if box.key is not None and not box.disabled]


def opened(page: str):
    from streamlit.testing.v1 import AppTest

    at = AppTest.from_file(str(REPO / "app.py"), default_timeout=180).run()
    at.switch_page(page).run()
    assert not at.exception, (page, at.exception)
    return at


def boxes_that_read_paths(monkeypatch, bait) -> dict[str, list[str]]:
    """Walk every page and each choice on it; type a path under the bait into every text box found; return the boxes
    that looked at anything under it (an attempt counts: an open or a stat that fails is still recorded)."""
    watch = PathWatch(bait.name)
    readers: dict[str, list[str]] = {}
    typed = str(bait / "bait.h5")  # the sidebar would stat it, a study box open bait.h5/results.csv: both seen
    with watch.wrapped(monkeypatch):
        for page in PAGES:
            at = opened(page)
            tried: set[tuple[str, str]] = set()
            for state in [None, *widget_choices(at)]:
                if state is not None:  # each choice from the page as it opens, so choices never pile up
                    kind, key, option = state
                    at = opened(page)
                    choose(getattr(at, kind)(key=key), option).run()
                    assert not at.exception, (page, state, at.exception)
                for box_kind, box_key in text_boxes(at):
                    if (box_kind, box_key) in tried:
                        continue
                    tried.add((box_kind, box_key))
                    watch.seen.clear()
                    getattr(at, box_kind)(key=box_key).input(typed).run()
                    if watch.seen:
                        readers[f"{page} {box_key}"] = watch.seen[:2]
                    getattr(at, box_kind)(key=box_key).input("").run()
    return readers


def test_the_walk_covers_every_page():
    routed = re.findall(r'PAGES / "(\w+\.py)"', (REPO / "app.py").read_text())
    assert sorted(f"app_pages/{name}" for name in routed) == sorted(p for p in PAGES if (REPO / p).exists())


def test_no_page_reads_a_path_a_visitor_types_in_public_mode(monkeypatch, bait, with_checkpoints):
    monkeypatch.setenv("GALAXY_PUBLIC", "1")
    monkeypatch.setenv("GALAXY_UI_TRAINING", "1")  # the Train page's widgets too
    monkeypatch.setenv("GALAXY_DATA_ROOTS", str(bait.parent))  # were a box read, the bait would be inside the allowed folders
    assert boxes_that_read_paths(monkeypatch, bait) == {}


def test_the_walk_finds_the_path_boxes_of_local_mode(monkeypatch, bait, with_checkpoints):
    """Without this, the public test could pass because the watch sees nothing at all."""
    monkeypatch.setenv("GALAXY_PUBLIC", "0")
    monkeypatch.setenv("GALAXY_DATA_ROOTS", str(bait.parent))
    monkeypatch.setattr(sys.modules[__name__], "PAGES", ["app_pages/evaluation.py"])
    readers = boxes_that_read_paths(monkeypatch, bait)
    assert "app_pages/evaluation.py data_path" in readers  # the sidebar's Galaxy10 file
    assert "app_pages/evaluation.py eval_study_path" in readers  # the study folder
