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


def test_permissions_survive_a_writer_that_recreates_the_file(tmp_path):
    target = tmp_path / "weights.bin"
    with atomic_path(target) as tmp:
        tmp.unlink()
        fd = os.open(tmp, os.O_CREAT | os.O_WRONLY, 0o600)  # as a library writing its own file would
        os.write(fd, b"data")
        os.close(fd)
    mask = os.umask(0)
    os.umask(mask)
    assert stat.S_IMODE(target.stat().st_mode) == 0o666 & ~mask
