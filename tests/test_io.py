import os
import stat

import numpy as np
import pytest

from pipeline.io import atomic_dir, write_json, write_text
from pipeline.synth.encode import encode_h264


@pytest.fixture
def umask():
    before = os.umask(0o022)
    os.umask(before)

    def set_mask(mask):
        os.umask(mask)
    yield set_mask
    os.umask(before)


def _mode(path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_outputs_get_the_permissions_a_plain_write_gives(tmp_path, umask):
    # issue 14, defect 11: temp-file creation left 0600 files and 0700 folders
    for mask, file_mode, dir_mode in ((0o022, 0o644, 0o755), (0o002, 0o664, 0o775), (0o077, 0o600, 0o700)):
        umask(mask)
        out = tmp_path / f"{mask:o}"
        write_json(out / "a.json", {"x": 1})
        write_text(out / "b.txt", "hi")
        with atomic_dir(out / "frames") as tmp:
            (tmp / "000000.jpg").write_bytes(b"jpg")
        assert _mode(out / "a.json") == _mode(out / "b.txt") == file_mode
        assert _mode(out / "frames") == dir_mode
        assert _mode(out / "frames" / "000000.jpg") == file_mode
        encode_h264(out / "clip.mp4", np.zeros((2, 16, 16, 3), np.uint8), fps=5)   # the synth videos
        assert _mode(out / "clip.mp4") == file_mode


def test_a_target_name_near_the_file_system_limit_is_written(tmp_path):
    # issue 28, point 14: the temporary name's prefix held the whole target name (255 + 13 bytes)
    name = "v" * 250
    write_text(tmp_path / name, "hi")
    with atomic_dir(tmp_path / ("d" * 255)) as tmp:
        (tmp / "f").write_text("x")
    with atomic_dir(tmp_path / ("é" * 127)) as tmp:   # 254 bytes in UTF-8
        (tmp / "f").write_text("x")
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted([name, "d" * 255, "é" * 127])
