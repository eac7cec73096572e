import csv
import subprocess

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from pipeline.datasets.base import Manifest
from pipeline.io import read_json, write_json
from pipeline.decoding import DecodeSettings, StrictModeError, decode_dataset
from pipeline.segments import build_split_index
from pipeline.video import DecodeError, decode_to_frames, read_frame_array, read_video_rgb


def _clip_facts(shared, name):
    rows = {r["file"]: r for r in csv.DictReader(open(shared / "clips" / "clips.csv"))}
    return rows[name]


@pytest.mark.parametrize("name", ["TrumanShow_wave_f_nm_np1_fr_med_26.avi", "arm_wrestling_demo.mp4"])
def test_decode_real_clip_counts_decoded_frames_and_scales_short_side(shared_datasets, tmp_path, name):
    facts = _clip_facts(shared_datasets, name)
    out = tmp_path / "f"
    out.mkdir()
    dec = decode_to_frames(shared_datasets / "clips" / name, out, short_side=64)
    assert dec.num_frames == int(facts["frames"]) == len(list(out.glob("*.jpg")))
    assert min(dec.width, dec.height) == 64
    aspect = int(facts["width"]) / int(facts["height"])
    assert abs(dec.width / dec.height - aspect) < 0.05
    num, _, den = facts["fps"].partition("/")
    assert dec.fps == pytest.approx(float(num) / float(den or 1), rel=1e-3)
    assert read_frame_array(out, dec.num_frames - 1).shape == (dec.height, dec.width, 3)


def test_decode_with_fps_resamples(shared_datasets, tmp_path):
    out = tmp_path / "f"
    out.mkdir()
    dec = decode_to_frames(shared_datasets / "clips" / "TrumanShow_wave_f_nm_np1_fr_med_26.avi", out,
                           short_side=32, fps=10)
    assert dec.fps == 10 and abs(dec.num_frames - 48 / 3) <= 1  # 48 frames at 30 fps


def test_decode_frame_folder(tmp_path):
    src = tmp_path / "frames"
    src.mkdir()
    for i in range(5):
        Image.fromarray(np.full((40, 60, 3), i * 40, np.uint8)).save(src / f"{i + 1:05d}.png")
    out = tmp_path / "out"
    out.mkdir()
    dec = decode_to_frames(src, out, short_side=20)
    assert dec.num_frames == 5 and (dec.width, dec.height) == (30, 20)
    # Order kept: brightness rises frame by frame.
    means = [read_frame_array(out, i).mean() for i in range(5)]
    assert means == sorted(means) and means[0] < means[-1]


def test_bad_inputs_name_the_file(tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    empty = tmp_path / "empty.mp4"
    empty.write_bytes(b"")
    garbage = tmp_path / "garbage.avi"
    garbage.write_bytes(b"this is not a video" * 100)
    with pytest.raises(DecodeError, match="empty.mp4: empty file"):
        decode_to_frames(empty, out, short_side=32)
    with pytest.raises(DecodeError, match="garbage.avi"):
        decode_to_frames(garbage, out, short_side=32)
    with pytest.raises(DecodeError, match="missing.mp4: file not found"):
        decode_to_frames(tmp_path / "missing.mp4", out, short_side=32)


def _make_video(path, frames=12, size="64x48"):
    subprocess.run(["ffmpeg", "-y", "-loglevel", "error", "-f", "lavfi", "-i", f"testsrc=size={size}:rate=10",
                    "-frames:v", str(frames), "-pix_fmt", "yuv420p", str(path)], check=True)


def _manifest(tmp_path, paths):
    videos = pd.DataFrame({"video_id": [p.split(".")[0] for p in paths], "path": paths,
                           "label_id": [0] * len(paths), "label_name": ["a"] * len(paths),
                           "group": [""] * len(paths), "split_1": ["train"] * len(paths)})
    m = Manifest("toy", ["a"], ["1"], videos)
    m.save(tmp_path / "manifest.parquet")
    return tmp_path / "manifest.parquet"


def test_decode_stage_records_failures_resumes_and_is_strict_on_request(tmp_path):
    root = tmp_path / "root"
    root.mkdir()
    _make_video(root / "good.mp4", frames=12)
    _make_video(root / "other.mp4", frames=7)
    (root / "bad.mp4").write_bytes(b"")
    manifest = _manifest(tmp_path, ["good.mp4", "other.mp4", "bad.mp4"])
    settings = DecodeSettings(short_side=32, fps=None, jpeg_quality=3)
    frames_dir, table_path = tmp_path / "frames", tmp_path / "frames.parquet"
    table = decode_dataset(manifest, root, frames_dir, table_path, settings=settings, workers=1, strict=False)
    by_id = table.set_index("video_id")
    assert by_id.loc["good", "num_frames"] == 12 and by_id.loc["other", "num_frames"] == 7
    assert by_id.loc["bad", "status"] == "failed" and "bad.mp4: empty file" in by_id.loc["bad", "error"]
    assert not (frames_dir / "bad").exists()
    assert pd.read_parquet(table_path).equals(table)

    # Resume: finished videos are not decoded again; a changed setting decodes them again.
    stamp = (frames_dir / "good" / "000000.jpg").stat().st_mtime_ns
    decode_dataset(manifest, root, frames_dir, table_path, settings=settings, workers=2, strict=False)
    assert (frames_dir / "good" / "000000.jpg").stat().st_mtime_ns == stamp
    # A replaced source video is decoded again even with the same settings.
    _make_video(root / "other.mp4", frames=9)
    table = decode_dataset(manifest, root, frames_dir, table_path, settings=settings, workers=1, strict=False)
    assert table.set_index("video_id").loc["other", "num_frames"] == 9
    assert (frames_dir / "good" / "000000.jpg").stat().st_mtime_ns == stamp
    bigger = DecodeSettings(short_side=40, fps=None, jpeg_quality=3)
    table = decode_dataset(manifest, root, frames_dir, table_path, settings=bigger, workers=1, strict=False)
    assert table.set_index("video_id").loc["good", "height"] == 40

    with pytest.raises(StrictModeError, match="bad.mp4: empty file"):
        decode_dataset(manifest, root, frames_dir, table_path, settings=settings, workers=1, strict=True)


def test_a_frame_range_decodes_just_that_segment(tmp_path):
    _make_video(tmp_path / "v.mp4", frames=12)
    whole, part = tmp_path / "whole", tmp_path / "part"
    whole.mkdir(), part.mkdir()
    decode_to_frames(tmp_path / "v.mp4", whole, short_side=48)
    info = decode_to_frames(tmp_path / "v.mp4", part, short_side=48, frame_range=(3, 8))
    assert info.num_frames == 5 and len(list(part.glob("*.jpg"))) == 5
    source = [read_frame_array(whole, f).astype(int) for f in range(12)]
    for i in range(5):
        seg = read_frame_array(part, i).astype(int)
        nearest = np.argmin([np.abs(seg - frame).mean() for frame in source])
        assert nearest == 3 + i                                    # segment frame i = source frame 3+i
    with pytest.raises(DecodeError, match="frames 20..24"):
        decode_to_frames(tmp_path / "v.mp4", tmp_path / "past", short_side=48, frame_range=(20, 25))


def test_decode_stage_decodes_segments_once_each_and_the_index_samples_inside_them(tmp_path):
    root = tmp_path / "root"
    root.mkdir()
    _make_video(root / "long.mp4", frames=20)
    videos = pd.DataFrame({"video_id": ["long_s1", "long_s2"], "path": ["long.mp4"] * 2, "label_id": [0, 0],
                           "label_name": ["a", "a"], "group": ["", ""], "split_1": ["train", "test"],
                           "frame_start": [0, 12], "frame_end": [6, 20], "source_id": ["long", "long"]})
    Manifest("toy", ["a"], ["1"], videos).save(tmp_path / "m.parquet")
    settings = DecodeSettings(short_side=32, fps=None, jpeg_quality=3)
    table = decode_dataset(tmp_path / "m.parquet", root, tmp_path / "frames", tmp_path / "f.parquet",
                           settings=settings, workers=1, strict=True)
    assert table.set_index("video_id")["num_frames"].to_dict() == {"long_s1": 6, "long_s2": 8}
    index, _ = build_split_index(Manifest.load(tmp_path / "m.parquet"), "1", {"long_s1": 6, "long_s2": 8},
                                 num_segments=2, val_fraction=0.0, seed=0, ranges_decoded=True)
    s2 = index.set_index("video_id").loc["long_s2"]
    assert s2["seg_start"][0] == 0 and s2["seg_end"][-1] == 8          # frames of the decoded segment
    # a changed range re-decodes that segment
    videos.loc[1, "frame_start"] = 10
    Manifest("toy", ["a"], ["1"], videos).save(tmp_path / "m.parquet")
    table = decode_dataset(tmp_path / "m.parquet", root, tmp_path / "frames", tmp_path / "f.parquet",
                           settings=settings, workers=1, strict=True)
    assert table.set_index("video_id").loc["long_s2", "num_frames"] == 10


def test_decoded_frames_are_byte_identical_wherever_the_same_video_is_decoded(tmp_path):
    """DVC hashes the frames folder: a copy of the video made later (another mtime) decodes to the
    same bytes, meta.json included; touching a decoded video's source does not re-decode it."""
    import os
    import shutil

    outputs = []
    for run in ("a", "b"):
        root = tmp_path / run / "root"
        root.mkdir(parents=True)
        if run == "a":
            _make_video(root / "v.mp4", frames=6)
        else:
            shutil.copyfile(tmp_path / "a" / "root" / "v.mp4", root / "v.mp4")
            os.utime(root / "v.mp4", (1_000_000_000, 1_000_000_000))
        manifest = _manifest(tmp_path / run, ["v.mp4"])
        decode_dataset(manifest, root, tmp_path / run / "frames", tmp_path / run / "f.parquet",
                       settings=DecodeSettings(short_side=32, fps=None, jpeg_quality=3), workers=1, strict=True)
        outputs.append({p.name: p.read_bytes() for p in sorted((tmp_path / run / "frames" / "v").iterdir())})
    assert outputs[0] == outputs[1] and "meta.json" in outputs[0]
    stamp = (tmp_path / "b" / "frames" / "v" / "000000.jpg").stat().st_mtime_ns
    os.utime(tmp_path / "b" / "root" / "v.mp4")
    decode_dataset(tmp_path / "b" / "manifest.parquet", tmp_path / "b" / "root", tmp_path / "b" / "frames",
                   tmp_path / "b" / "f.parquet", settings=DecodeSettings(short_side=32, fps=None, jpeg_quality=3),
                   workers=1, strict=True)
    assert (tmp_path / "b" / "frames" / "v" / "000000.jpg").stat().st_mtime_ns == stamp


# --------------------------------------------------------- rotated, variable-rate and truncated files
def _ffmpeg(*args):
    subprocess.run(["ffmpeg", "-y", "-nostdin", "-loglevel", "error", *map(str, args)], check=True)


def _rotated_video(tmp_path):
    """A 64x48 clip (red left half, blue right half) stored with a 90 degree display rotation, as
    phones record; played, it is 48 wide and 64 high."""
    plain, rotated = tmp_path / "plain.mp4", tmp_path / "rotated.mp4"
    _ffmpeg("-f", "lavfi", "-i", "color=c=blue:size=64x48:rate=10", "-frames:v", 5,
            "-vf", "drawbox=x=0:y=0:w=32:h=48:color=red:t=fill", "-pix_fmt", "yuv420p", plain)
    _ffmpeg("-i", plain, "-c", "copy", "-metadata:s:v:0", "rotate=90", rotated)
    return plain, rotated


def test_rotated_videos_decode_upright_the_same_way_everywhere(tmp_path):
    # issue 14, defect 3: read_video_rgb (draw_poses) reshaped the upright frames with the stored size
    from pipeline.video import read_video_rgb
    plain, rotated = _rotated_video(tmp_path)
    upright, fps = read_video_rgb(rotated)
    assert upright.shape == (5, 64, 48, 3) and fps == pytest.approx(10)
    stored, _ = read_video_rgb(plain)
    turned = np.rot90(stored, k=1, axes=(1, 2))          # display rotation 90: counter-clockwise
    assert np.abs(upright.astype(int) - turned).mean() < 8
    out = tmp_path / "frames"
    out.mkdir()
    decoded = decode_to_frames(rotated, out, short_side=48)
    assert (decoded.width, decoded.height) == (48, 64) and decoded.warning == ""
    assert np.abs(read_frame_array(out, 0).astype(int) - upright[0]).mean() < 8


def test_variable_rate_videos_are_decoded_at_a_constant_rate(tmp_path):
    # issue 14, defect 10: 30 fps in the first second, 5 fps after: frame index was not time
    vfr = tmp_path / "vfr.mp4"
    _ffmpeg("-f", "lavfi", "-i", "color=c=black:size=64x48:rate=30:d=4", "-vf",
            "geq=lum='T*60':cb=128:cr=128,select='lt(t\\,1)+not(mod(n\\,6))'", "-fps_mode", "vfr",
            "-pix_fmt", "yuv420p", vfr)
    out = tmp_path / "frames"
    out.mkdir()
    decoded = decode_to_frames(vfr, out, short_side=48)
    assert decoded.num_frames == pytest.approx(3.8 * decoded.fps, abs=2)   # last frame at 3.8 s
    middle = read_frame_array(out, decoded.num_frames // 2).mean()
    assert middle == pytest.approx(1.9 * 60, abs=20)      # the middle frame is from t = 1.9 s


def test_truncated_video_that_still_decodes_is_flagged(tmp_path):
    # issue 14, defect 5: 41 of 90 frames decoded, ffmpeg exited 0, the video counted as ok
    root = tmp_path / "root"
    root.mkdir()
    full = tmp_path / "full.mp4"
    _ffmpeg("-f", "lavfi", "-i", "testsrc=size=64x48:rate=15", "-t", 6, "-pix_fmt", "yuv420p",
            "-movflags", "+faststart", full)
    data = full.read_bytes()
    (root / "cut.mp4").write_bytes(data[: len(data) * 7 // 10])
    _make_video(root / "good.mp4", frames=12)
    manifest = _manifest(tmp_path, ["cut.mp4", "good.mp4"])
    settings = DecodeSettings(short_side=32, fps=None, jpeg_quality=3)
    table = decode_dataset(manifest, root, tmp_path / "frames", tmp_path / "frames.parquet", settings=settings,
                           workers=1, strict=False).set_index("video_id")
    assert table.loc["cut", "status"] == "ok" and table.loc["cut", "num_frames"] < 80
    assert "of the 90 frames the container lists" in table.loc["cut", "warning"]
    assert table.loc["good", "warning"] == ""
    # frames of an older decoder (no VFR resampling, no frame-count check) are decoded again
    meta = read_json(tmp_path / "frames" / "good" / "meta.json")
    write_json(tmp_path / "frames" / "good" / "meta.json", {k: v for k, v in meta.items() if k != "decoder"})
    decode_dataset(manifest, root, tmp_path / "frames", tmp_path / "frames.parquet", settings=settings,
                   workers=1, strict=False)
    assert read_json(tmp_path / "frames" / "good" / "meta.json") == meta
    with pytest.raises(StrictModeError, match="cut.mp4: decoded .* of the 90 frames"):
        decode_dataset(manifest, root, tmp_path / "frames", tmp_path / "frames.parquet", settings=settings,
                       workers=1, strict=True)


def test_decode_names_its_failed_videos(tmp_path, capsys):
    # issue 14, defect 6: decode printed nothing about failed videos
    root = tmp_path / "root"
    root.mkdir()
    _make_video(root / "good.mp4", frames=5)
    (root / "bad.mp4").write_bytes(b"")
    (root / "text.mp4").write_text("not a video")
    manifest = _manifest(tmp_path, ["good.mp4", "bad.mp4", "text.mp4"])
    decode_dataset(manifest, root, tmp_path / "frames", tmp_path / "frames.parquet",
                   settings=DecodeSettings(short_side=32, fps=None, jpeg_quality=3), workers=1, strict=False)
    out = capsys.readouterr().out
    assert "decode toy: 1/3 videos ok" in out and "decode toy FAILED: 2 videos" in out
    assert f"  bad: {root / 'bad.mp4'}: empty file" in out and f"  text: {root / 'text.mp4'}: " in out
    assert f"all of them: {tmp_path / 'frames.parquet'}" in out


def test_the_stale_frames_sweep_deletes_only_folders_decode_wrote(tmp_path):
    root = tmp_path / "root"
    root.mkdir()
    _make_video(root / "good.mp4", frames=3)
    manifest = _manifest(tmp_path, ["good.mp4"])
    frames_dir = tmp_path / "frames"
    (frames_dir / "someone_elses" / "sub").mkdir(parents=True)
    (frames_dir / "someone_elses" / "keep.txt").write_text("x")
    (frames_dir / "gone").mkdir()
    write_json(frames_dir / "gone" / "meta.json", {"decoder": 2})
    (frames_dir / ".good.k2j4.tmp").mkdir()          # a killed decode's half-written folder
    (frames_dir / ".good.k2j4.tmp" / "000000.jpg").write_bytes(b"jpg")
    decode_dataset(manifest, root, frames_dir, tmp_path / "t.parquet",
                   settings=DecodeSettings(short_side=32, fps=None, jpeg_quality=3), workers=1, strict=False)
    assert (frames_dir / "someone_elses" / "keep.txt").exists()
    assert not (frames_dir / "gone").exists() and (frames_dir / "good" / "meta.json").exists()
    assert not (frames_dir / ".good.k2j4.tmp").exists()


def test_a_frame_folder_named_like_a_glob_reads_its_own_frames(tmp_path):
    for name, colour, count in (("clip[1]", (255, 0, 0), 10), ("clip1", (0, 0, 255), 20)):
        (tmp_path / name).mkdir()
        for i in range(count):
            Image.fromarray(np.full((32, 32, 3), colour, np.uint8)).save(tmp_path / name / f"{i:05d}.png")
    out = tmp_path / "out"
    out.mkdir()
    dec = decode_to_frames(tmp_path / "clip[1]", out, short_side=32)
    assert dec.num_frames == 10
    red, _, blue = read_frame_array(out, 0).reshape(-1, 3).mean(0)
    assert red > 200 and blue < 50
    (tmp_path / "100%d").mkdir()
    for i in range(3):
        Image.fromarray(np.zeros((32, 32, 3), np.uint8)).save(tmp_path / "100%d" / f"{i:05d}.jpg")
    (tmp_path / "out2").mkdir()
    assert decode_to_frames(tmp_path / "100%d", tmp_path / "out2", short_side=32).num_frames == 3


def _hls_playlist_to(tmp_path):
    """root/playlist.mp4: an HLS playlist whose one segment is a video outside root."""
    outside = tmp_path / "outside.ts"
    _ffmpeg("-f", "lavfi", "-i", "testsrc=size=64x48:rate=10", "-frames:v", "10", "-pix_fmt", "yuv420p",
            "-f", "mpegts", str(outside))
    root = tmp_path / "root"
    root.mkdir()
    (root / "playlist.mp4").write_text("#EXTM3U\n#EXT-X-VERSION:3\n#EXT-X-TARGETDURATION:2\n"
                                       f"#EXTINF:1.0,\n{outside}\n#EXT-X-ENDLIST\n")
    return root / "playlist.mp4"


def test_a_playlist_posing_as_a_video_is_refused_not_followed(tmp_path):
    playlist = _hls_playlist_to(tmp_path)
    out = tmp_path / "out"
    out.mkdir()
    with pytest.raises(DecodeError, match=r"playlist.mp4: .*hls.* not a video file"):
        decode_to_frames(playlist, out, short_side=32)
    with pytest.raises(DecodeError, match=r"playlist.mp4: .*hls"):
        read_video_rgb(playlist)
    assert not list(out.iterdir())


def test_a_video_name_too_long_for_a_file_name_fails_alone(tmp_path):
    root = tmp_path / "root"
    root.mkdir()
    long_name = "x" * 246 + ".mp4"      # 250 bytes, legal on ext4
    _make_video(root / long_name, frames=3)
    _make_video(root / "good.mp4", frames=3)
    manifest = _manifest(tmp_path, [long_name, "good.mp4"])
    videos = Manifest.load(manifest).videos
    videos.loc[2] = {**videos.loc[0], "video_id": "y" * 300}     # an id no file system stores
    Manifest("toy", ["a"], ["1"], videos).save(manifest)
    table = decode_dataset(manifest, root, tmp_path / "frames", tmp_path / "t.parquet",
                           settings=DecodeSettings(short_side=32, fps=None, jpeg_quality=3), workers=1,
                           strict=False).set_index("video_id")
    assert (table.loc[["x" * 246, "good"], "status"] == "ok").all()
    assert table.loc["y" * 300, "status"] == "failed" and "too long" in table.loc["y" * 300, "error"]


def test_resume_decodes_again_a_video_whose_frames_went_missing_or_empty(tmp_path):
    # issue 28, point 7: resume trusted meta.json, whatever was left of the frames beside it
    root = tmp_path / "root"
    root.mkdir()
    _make_video(root / "good.mp4", frames=6)
    manifest = _manifest(tmp_path, ["good.mp4"])
    settings = DecodeSettings(short_side=32, fps=None, jpeg_quality=3)
    frames = tmp_path / "frames" / "good"
    def cut_short():
        data = (frames / "000002.jpg").read_bytes()
        (frames / "000002.jpg").write_bytes(data[: len(data) // 2])

    def garbage():   # same size, other bytes
        size = (frames / "000004.jpg").stat().st_size
        (frames / "000004.jpg").write_bytes(b"\x00" * size)

    decode_dataset(manifest, root, tmp_path / "frames", tmp_path / "t.parquet", settings=settings, workers=1,
                   strict=False)
    clean = {p.name: p.read_bytes() for p in frames.glob("*.jpg")}
    for damage in (lambda: (frames / "000003.jpg").unlink(), lambda: (frames / "000005.jpg").write_bytes(b""),
                   cut_short, garbage):
        damage()
        decode_dataset(manifest, root, tmp_path / "frames", tmp_path / "t.parquet", settings=settings, workers=1,
                       strict=False)
        assert {p.name: p.read_bytes() for p in frames.glob("*.jpg")} == clean


def test_a_second_decode_of_the_same_frames_folder_stops_with_one_line(tmp_path):
    # issue 28, point 4: two decodes of one dataset raced on the same frame folders
    import subprocess
    import sys
    import textwrap

    from pipeline.errors import InputError
    root = tmp_path / "root"
    root.mkdir()
    _make_video(root / "good.mp4", frames=3)
    manifest = _manifest(tmp_path, ["good.mp4"])
    (tmp_path / "frames").mkdir()
    # the other decode, still running: a second process that holds the frames folder's lock
    holder = subprocess.Popen([sys.executable, "-c", textwrap.dedent(f"""
        import fcntl, os, sys, time
        fd = os.open({str(tmp_path / "frames")!r}, os.O_RDONLY)
        fcntl.flock(fd, fcntl.LOCK_EX)
        print("locked", flush=True)
        sys.stdin.read()
        """)], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "locked"
        with pytest.raises(InputError, match=r"frames: another decode of this dataset is running.*\. Fix: "):
            decode_dataset(manifest, root, tmp_path / "frames", tmp_path / "t.parquet",
                           settings=DecodeSettings(short_side=32, fps=None, jpeg_quality=3), workers=1, strict=False)
        assert not (tmp_path / "frames" / "good").exists()
    finally:
        holder.communicate("", timeout=30)   # the other decode ends: its lock goes with it
    decode_dataset(manifest, root, tmp_path / "frames", tmp_path / "t.parquet",
                   settings=DecodeSettings(short_side=32, fps=None, jpeg_quality=3), workers=1, strict=False)
    assert (tmp_path / "frames" / "good" / "meta.json").exists()


def test_a_frame_folder_of_mixed_sizes_fails_naming_the_odd_frame(tmp_path):
    # issue 28, point 11: a 30x40 frame among 64x48 ones was stretched to the first frame's shape, silently
    src = tmp_path / "clip"
    src.mkdir()
    for i, (w, h) in enumerate([(64, 48)] * 3 + [(30, 40)] * 2):
        Image.fromarray(np.zeros((h, w, 3), np.uint8)).save(src / f"{i:03d}.png")
    (tmp_path / "out").mkdir()
    with pytest.raises(DecodeError, match=r"clip: frame 003.png is 30x40, the first frame 64x48"):
        decode_to_frames(src, tmp_path / "out", short_side=24)


def test_a_full_disk_stops_decode_instead_of_failing_every_video(tmp_path, monkeypatch):
    # issue 28, point 1: with the disk full, every remaining video was recorded as failed
    from pipeline import decoding
    from pipeline.errors import InputError
    root = tmp_path / "root"
    root.mkdir()
    _make_video(root / "a.mp4", frames=3)

    def full(source, *args, **kwargs):
        raise DecodeError(f"{source}: ffmpeg failed: [image2 @ 0x1] Could not write frame: No space left on device")
    monkeypatch.setattr(decoding, "decode_to_frames", full)
    with pytest.raises(InputError, match=r"frames: no space left on device while decoding .*a.mp4\. Fix: free space"):
        decode_dataset(_manifest(tmp_path, ["a.mp4"]), root, tmp_path / "frames", tmp_path / "t.parquet",
                       settings=DecodeSettings(short_side=32, fps=None, jpeg_quality=3), workers=1, strict=False)
    assert not (tmp_path / "t.parquet").exists()
