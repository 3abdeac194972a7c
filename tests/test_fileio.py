import os
import stat

import pytest

from galaxy_core.fileio import atomic_path, write_json_atomic


def test_atomic_write_replaces_only_on_success_with_normal_permissions(tmp_path):
    target = tmp_path / "out.json"
    write_json_atomic(target, {"a": 1})
    mask = os.umask(0)
    os.umask(mask)
    assert stat.S_IMODE(target.stat().st_mode) == 0o666 & ~mask
    with pytest.raises(RuntimeError):
        with atomic_path(target) as tmp:
            tmp.write_text("half")
            raise RuntimeError("interrupted")
    assert target.read_text().strip().startswith("{") and '"a": 1' in target.read_text()
    assert [p.name for p in tmp_path.iterdir()] == ["out.json"], "no temporary file is left behind"
