"""The README's Python API example runs as written, on the shipped checkpoints, and writes nothing into them."""
from __future__ import annotations

import re

from conftest import REPO


def test_the_python_api_example_runs(monkeypatch, capsys):
    readme = (REPO / "README.md").read_text()
    section = readme[readme.index("## Python API"):]
    code = re.search(r"```python\n(.*?)```", section, re.S).group(1)
    before = {p: p.stat().st_mtime_ns for p in (REPO / "checkpoints").rglob("*") if p.is_file()}
    monkeypatch.chdir(REPO)
    exec(compile(code, "README.md (Python API)", "exec"), {})
    printed = capsys.readouterr().out.splitlines()
    assert len(printed) == 3 and "right" in printed[0] and 0 <= float(printed[1]) <= 1 and 0 <= float(printed[2]) <= 1
    assert {p: p.stat().st_mtime_ns for p in (REPO / "checkpoints").rglob("*") if p.is_file()} == before, "the example changed a checkpoint"
