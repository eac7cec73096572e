import re
import dataclasses
import os
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

from pipeline import train as T
from pipeline.data import SplitData
from pipeline.io import read_json
from pipeline.model import ModelConfig, build_model
from pipeline.model_io import UnsafeCheckpoint, load_model, predict_logits
from pipeline.params import TrainParams
from pipeline.train import lr_factor, make_loader, train_run

ROOT = Path(__file__).resolve().parents[1]


def test_warmup_is_linear_to_the_base_lr_then_cosine_to_zero():
    f = [lr_factor(s, warmup_steps=200, total_steps=1000, schedule="cosine") for s in range(1000)]
    assert f[0] == pytest.approx(1 / 200) and f[99] == pytest.approx(0.5) and f[199] == pytest.approx(1.0)
    assert np.all(np.diff(f[:200]) > 0) and f[200] == pytest.approx(1.0)
    assert f[600] == pytest.approx(0.5) and f[999] < 1e-4 and np.all(np.diff(f[200:]) <= 0)
    assert lr_factor(5000, warmup_steps=200, total_steps=1000, schedule="constant") == 1.0


def pose_split(num_videos=18, frames=10, classes=3, seed=0) -> SplitData:
    """A tiny pose-only split (12 train, 3 val, 3 test videos; 2 person slots) for training tests."""
    rng = np.random.default_rng(seed)
    ids = [f"v{i:02d}" for i in range(num_videos)]
    labels = [i % classes for i in range(num_videos)]
    subsets = ["train"] * 12 + ["val"] * 3 + ["test"] * 3
    lo = [[0, 2, 5, 7]] * num_videos
    index = pd.DataFrame({"video_id": ids, "label_id": labels, "subset": subsets[:num_videos],
                          "num_frames": frames, "seg_start": lo, "seg_end": [[2, 5, 7, 10]] * num_videos,
                          "mid": [[0, 3, 6, 8]] * num_videos})
    poses = {}
    for v, y in zip(ids, labels):
        p = np.full((frames, 2, 14, 3), np.nan, np.float32)
        p[..., 2] = 0
        p[:, 0, :, :2] = rng.uniform(0.2, 0.8, (frames, 14, 2)) * 0.2 + 0.25 * y
        p[:, 0, :, 2] = 1
        poses[v] = p
    return SplitData(index=index, classes=["a", "b", "c"], poses=poses, sizes={v: (64, 48) for v in ids},
                     pose_only=True)


SETTINGS = TrainParams(input_size=32, resize_short=36, crop_scales=(1.0, 0.875), flip_prob=0.3, batch_size=4,
                       epochs=3, lr=3e-3, warmup_steps=2, momentum=0.9, weight_decay=4e-5, schedule="cosine",
                       optimizer="adamw", workers=0, threads=1, device="cpu", amp=False,
                       pose_warmup_epochs=0, pose_warmup_lr=0.0, backbone_lr_mult=0.2, min_steps=0)
SEED = 7
CONFIG = ModelConfig(num_classes=3, variant="tmp", hidden_size=8, pose_dim=8, part_hidden=4, part_dim=6,
                     num_persons=2, backbone="bninception", appearance_dim=512, pretrained=None, joint_visibility=False, pa_joint_map=False)


def _train(tmp_path, name, **kw):
    return train_run(pose_split(), frames_dir=None, model_config=CONFIG, s=kw.pop("s", SETTINGS), seed=SEED,
                     run_dir=tmp_path / name, plots_dir=tmp_path / name / "plots", run_info={"name": name}, **kw)


def test_interrupted_run_resumes_to_the_same_model(tmp_path, monkeypatch):
    _train(tmp_path, "straight")
    straight = torch.load(tmp_path / "straight" / "model.pt", weights_only=True)

    _kill_before_epoch(monkeypatch, 2)
    with pytest.raises(KeyboardInterrupt):
        _train(tmp_path, "resumed")
    assert torch.load(tmp_path / "resumed" / "checkpoints" / "last.pt", weights_only=True)["epoch"] == 1
    monkeypatch.setattr(T, "make_loader", make_loader)
    _train(tmp_path, "resumed")
    _assert_same_model(tmp_path / "resumed" / "model.pt", straight)
    history = read_json(tmp_path / "resumed" / "history.json")
    assert [h["epoch"] for h in history] == [1, 2, 3]
    assert (tmp_path / "resumed" / "plots" / "training.png").read_bytes()[:4] == b"\x89PNG"


def test_changed_checkpoint_is_not_resumed(tmp_path, capsys):
    _train(tmp_path, "run")
    _train(tmp_path, "run", s=dataclasses.replace(SETTINGS, epochs=4), data_fingerprint="other")
    assert "starting afresh" in capsys.readouterr().out
    assert [h["epoch"] for h in read_json(tmp_path / "run" / "history.json")] == [1, 2, 3, 4]


def _validation_scores(monkeypatch, scores: list[float]):
    """Validation top-1 of successive epochs forced to ``scores`` (3 validation videos), so that
    which epoch is best is known; the weights are trained for real."""
    def forced(model, loader, device, **kw):
        logits, labels = predict_logits(model, loader, device, **kw)
        right = round(scores.pop(0) * len(labels))
        predicted = np.where(np.arange(len(labels)) < right, labels, (labels + 1) % 3)
        return {head: np.eye(3, dtype=np.float32)[predicted] for head in logits}, labels
    monkeypatch.setattr(T, "predict_logits", forced)


def _assert_same_model(model_path, expected: dict) -> None:
    got = torch.load(model_path, weights_only=True)
    assert got["best"] == expected["best"]
    for key, value in expected["state_dict"].items():
        assert torch.equal(value, got["state_dict"][key]), key


def _kill_before_epoch(monkeypatch, epoch: int):
    def crash(dataset, **kw):
        if kw.get("epoch") == epoch and kw.get("shuffle"):
            raise KeyboardInterrupt
        return make_loader(dataset, **kw)
    monkeypatch.setattr(T, "make_loader", crash)


def test_a_run_killed_after_its_best_epoch_keeps_its_model(tmp_path, monkeypatch, capsys):
    # issue 14, defect 1: validation peaks at epoch 2 of 3; the run is killed right after epoch 2's
    # checkpoint; DVC deletes model.pt (not a persist output) before the re-run.
    _validation_scores(monkeypatch, [1 / 3, 1.0, 0.0])
    _train(tmp_path, "straight")
    straight = torch.load(tmp_path / "straight" / "model.pt", weights_only=True)
    assert straight["best"]["epoch"] == 2

    _validation_scores(monkeypatch, [1 / 3, 1.0])
    _kill_before_epoch(monkeypatch, 2)
    with pytest.raises(KeyboardInterrupt):
        _train(tmp_path, "killed")
    (tmp_path / "killed" / "model.pt").unlink(missing_ok=True)
    _validation_scores(monkeypatch, [0.0])
    monkeypatch.setattr(T, "make_loader", make_loader)
    _train(tmp_path, "killed")
    _assert_same_model(tmp_path / "killed" / "model.pt", straight)

    # the finished run re-run (dvc repro after a kill in its last moments, or with model.pt gone):
    # model.pt is written again from the kept best epoch, nothing is retrained
    model_bytes = (tmp_path / "killed" / "model.pt").read_bytes()
    (tmp_path / "killed" / "model.pt").unlink()
    capsys.readouterr()
    monkeypatch.setattr(T, "predict_logits", None)  # would fail if any epoch ran
    assert _train(tmp_path, "killed")["best"] == straight["best"]
    assert "training had finished" in capsys.readouterr().out
    assert (tmp_path / "killed" / "model.pt").read_bytes() == model_bytes
    assert [h["epoch"] for h in read_json(tmp_path / "killed" / "history.json")] == [1, 2, 3]


def test_a_kill_between_the_checkpoint_and_the_best_model_loses_nothing(tmp_path, monkeypatch):
    _validation_scores(monkeypatch, [1 / 3, 1.0, 0.0])
    _train(tmp_path, "straight")
    straight = torch.load(tmp_path / "straight" / "model.pt", weights_only=True)
    _validation_scores(monkeypatch, [1 / 3, 1.0, 0.0])
    _kill_before_epoch(monkeypatch, 2)
    with pytest.raises(KeyboardInterrupt):
        _train(tmp_path, "killed")
    best_path = tmp_path / "killed" / "checkpoints" / "best.pt"
    epoch_1 = torch.load(tmp_path / "straight" / "checkpoints" / "best.pt", weights_only=True)
    epoch_1["best"] = {"top1": 1 / 3, "epoch": 1}
    torch.save(epoch_1, best_path)  # as if killed after last.pt of epoch 2, before its best.pt
    monkeypatch.setattr(T, "make_loader", make_loader)
    _train(tmp_path, "killed")
    _assert_same_model(tmp_path / "killed" / "model.pt", straight)


def test_resumed_run_logs_every_epoch_like_an_uninterrupted_run(tmp_path, monkeypatch):
    # issue 14, defect 9: DVCLive's metrics.json and plot files of a resumed run equal an
    # uninterrupted run's but for timing; DVC deletes the live folder (not persist) before the re-run.
    _train(tmp_path, "straight")
    _kill_before_epoch(monkeypatch, 2)
    with pytest.raises(KeyboardInterrupt):
        _train(tmp_path, "resumed")
    shutil.rmtree(tmp_path / "resumed" / "live")
    monkeypatch.setattr(T, "make_loader", make_loader)
    _train(tmp_path, "resumed")
    timing = {"seconds", "clips_per_second"}
    strip = lambda d: {k: v for k, v in d.items() if k not in timing}  # noqa: E731
    assert strip(read_json(tmp_path / "resumed" / "live" / "metrics.json")) == \
        strip(read_json(tmp_path / "straight" / "live" / "metrics.json"))
    plots = sorted(p.relative_to(tmp_path / "straight") for p in (tmp_path / "straight" / "live").rglob("*.tsv"))
    assert len(plots) >= 4
    for rel in plots:
        a = pd.read_csv(tmp_path / "straight" / rel, sep="\t")
        b = pd.read_csv(tmp_path / "resumed" / rel, sep="\t")
        assert list(a["step"]) == list(b["step"]) == [0, 1, 2], rel
        if rel.stem not in timing:
            pd.testing.assert_frame_equal(a, b)


def test_seeded_training_is_deterministic(tmp_path):
    a = _train(tmp_path, "a")
    b = _train(tmp_path, "b")
    sa = torch.load(tmp_path / "a" / "model.pt", weights_only=True)["state_dict"]
    sb = torch.load(tmp_path / "b" / "model.pt", weights_only=True)["state_dict"]
    assert a == b and all(torch.equal(sa[k], sb[k]) for k in sa)


def test_pose_only_dataset_refuses_appearance_variants(tmp_path):
    config = dataclasses.replace(CONFIG, variant="tmp_sa", backbone="resnet_tiny", backbone_width=4,
                                 appearance_dim=8)
    with pytest.raises(ValueError, match="pose-only.*tmp"):
        train_run(pose_split(), frames_dir=None, model_config=config, s=SETTINGS, seed=SEED, run_dir=tmp_path / "x",
                  plots_dir=tmp_path / "p", run_info={"dataset": "penn"})


def test_load_model_is_safe_and_rejects_other_versions(tmp_path):
    _train(tmp_path, "m")
    model, ckpt = load_model(tmp_path / "m" / "model.pt")
    assert not model.training and ckpt["classes"] == ["a", "b", "c"]
    bad = dict(ckpt, format=99)
    torch.save(bad, tmp_path / "bad.pt")
    with pytest.raises(ValueError, match="format 99"):
        load_model(tmp_path / "bad.pt")
    with pytest.raises(FileNotFoundError, match="dvc repro"):
        load_model(tmp_path / "missing.pt")
    torch.save({"payload": object()}.__class__, tmp_path / "evil.pt")
    with pytest.raises(Exception):
        load_model(tmp_path / "evil.pt")  # weights_only refuses arbitrary pickled objects


class _RunsCode:
    def __reduce__(self):
        return os.system, ("touch PWNED",)


def test_a_forged_checkpoint_is_refused_saying_it_would_run_code(tmp_path, monkeypatch):
    # issue 14, defect 8: the message kept torch's "re-run with weights_only=False" line
    monkeypatch.chdir(tmp_path)
    torch.save({"format": 1, "state_dict": _RunsCode()}, tmp_path / "model.pt")
    with pytest.raises(UnsafeCheckpoint) as caught:
        load_model(tmp_path / "model.pt")
    message = str(caught.value)
    assert message.startswith(f"{tmp_path / 'model.pt'}: refused: the file holds Python objects that could "
                              "execute arbitrary code when loaded (unsupported GLOBAL posix.system)")
    assert "Fix: " in message and "\n" not in message and "will likely succeed" not in message
    assert not (tmp_path / "PWNED").exists()


def test_grad_clip_bounds_every_update(tmp_path):
    """SGD without weight decay moves each parameter by at most lr x (momentum-summed) gradient
    norm per step: with the norm clipped to 1e-6 the weights barely move; unclipped they do."""
    sgd = dataclasses.replace(SETTINGS, optimizer="sgd", weight_decay=0.0, lr=0.05, warmup_steps=1)
    torch.manual_seed(SEED)
    init = build_model(CONFIG).state_dict()

    def largest_move(name, s):
        _train(tmp_path, name, s=s)
        trained = torch.load(tmp_path / name / "checkpoints" / "last.pt", weights_only=True)["model"]
        return max(float((trained[k].float() - init[k].float()).abs().max()) for k in init
                   if init[k].is_floating_point())

    steps = SETTINGS.epochs * (12 // SETTINGS.batch_size)
    assert largest_move("clipped", dataclasses.replace(sgd, grad_clip=1e-6)) <= steps * 0.05 * 10 * 1e-6
    assert largest_move("free", sgd) > 1e-3


def test_divergence_stops_with_a_clear_error_and_keeps_the_last_good_checkpoint(tmp_path):
    """An absurd lr blows the weights up; training stops in that epoch and names the fixes."""
    wild = dataclasses.replace(SETTINGS, optimizer="sgd", lr=1e30, warmup_steps=1, epochs=3)
    with pytest.raises(T.TrainingDiverged, match=r"diverged in epoch 1 .*train.grad_clip"):
        _train(tmp_path, "wild", s=wild)
    assert not (tmp_path / "wild" / "checkpoints" / "last.pt").exists()


def test_equal_training_writes_byte_identical_models(tmp_path):
    """DVC hashes model.pt: two seeded runs must write the same bytes (not only equal tensors)."""
    _train(tmp_path / "x", "run")
    _train(tmp_path / "y", "run")
    assert (tmp_path / "x" / "run" / "model.pt").read_bytes() == (tmp_path / "y" / "run" / "model.pt").read_bytes()
    model, _ = load_model(tmp_path / "x" / "run" / "model.pt")
    assert model.config == CONFIG


def test_evaluate_says_how_many_test_videos_were_scored_and_warns_when_some_are_missing(tmp_path, capsys):
    # issue 14, defect 6: 3 of 5 test videos were broken and the metrics rested on 2, silently
    from pipeline.evaluate import evaluate_run
    _train(tmp_path, "run")
    capsys.readouterr()
    skipped = [{"video_id": "v90", "subset": "test", "reason": "v90.mp4: empty file"},
               {"video_id": "v91", "subset": "train", "reason": "v91.mp4: empty file"}]
    evaluate_run(pose_split(), tmp_path / "run" / "model.pt", frames_dir=None, s=SETTINGS, seed=SEED, batch_size=4,
                 metrics_path=tmp_path / "m.json", plots_dir=tmp_path / "plots", skipped=skipped,
                 index_path="idx/split_1.parquet")
    captured = capsys.readouterr()
    assert "evaluate run: scored 3 of the split's 4 test videos" in captured.out
    assert "WARNING: evaluate run: test videos MISSING, the metrics rest on the other 3: 1 video" in captured.err
    assert "  v90: v90.mp4: empty file" in captured.err and "v91" not in captured.err
    assert "idx/split_1.parquet" in captured.err


def test_warmup_never_lasts_more_than_a_fifth_of_the_run():
    """15 clips in batches of 8 for 15 epochs: 30 steps; 30 warm-up steps would never reach the lr."""
    f = [lr_factor(s, warmup_steps=30, total_steps=30, schedule="cosine") for s in range(30)]
    assert f[5] == pytest.approx(1.0) and f[4] < 1.0 and max(f) == pytest.approx(1.0)
    assert lr_factor(0, warmup_steps=200, total_steps=10_000, schedule="cosine") == pytest.approx(1 / 200)


def test_every_training_clip_is_seen_each_epoch(tmp_path, monkeypatch):
    """12 training clips in batches of 5: the last short batch is kept (one process)."""
    seen = []
    real = T.make_loader

    def counting(dataset, **kw):
        loader = real(dataset, **kw)
        if kw.get("shuffle"):
            seen.append(sum(len(b["label"]) for b in loader))
        return loader

    monkeypatch.setattr(T, "make_loader", counting)
    _train(tmp_path, "all", s=dataclasses.replace(SETTINGS, batch_size=5))
    assert seen == [12, 12, 12]


def _frames_split(tmp_path, num_videos=18, frames=10):
    from PIL import Image

    data = pose_split(num_videos=num_videos, frames=frames)
    for v in data.index["video_id"]:
        (tmp_path / "frames" / v).mkdir(parents=True)
        for f in range(frames):
            Image.fromarray(np.full((48, 64, 3), 20 * f, np.uint8)).save(tmp_path / "frames" / v / f"{f:06d}.jpg")
    return dataclasses.replace(data, pose_only=False)


def test_pose_warmup_trains_the_pose_stream_alone_then_everything(tmp_path, monkeypatch):
    data = _frames_split(tmp_path)
    config = dataclasses.replace(CONFIG, variant="tmp_sa", backbone="resnet_tiny", backbone_width=4,
                                 appearance_dim=8, joint_visibility=True)
    s = dataclasses.replace(SETTINGS, epochs=2, pose_warmup_epochs=2)
    real = T.make_loader

    def crash_in_epoch_3(dataset, **kw):
        if kw.get("epoch") == 2 and kw.get("shuffle"):
            raise KeyboardInterrupt
        return real(dataset, **kw)

    run = dict(frames_dir=tmp_path / "frames", model_config=config, s=s, seed=SEED, run_dir=tmp_path / "run",
               plots_dir=tmp_path / "plots", run_info={"name": "w"})
    monkeypatch.setattr(T, "make_loader", crash_in_epoch_3)
    with pytest.raises(KeyboardInterrupt):
        train_run(data, **run)
    after_warmup = torch.load(tmp_path / "run" / "checkpoints" / "last.pt", weights_only=True)
    torch.manual_seed(SEED)
    init = build_model(config).state_dict()
    changed = {k for k, v in after_warmup["model"].items() if not torch.equal(v, init[k])}
    assert changed and all(k.startswith(("tmp.", "heads.heads.pose", "heads.heads.motion")) for k in changed)
    assert any(k.startswith("tmp.") for k in changed)
    assert not (tmp_path / "run" / "model.pt").exists()   # models are chosen among joint epochs only
    monkeypatch.setattr(T, "make_loader", real)
    train_run(data, **run)                                  # resumes in the joint phase
    history = read_json(tmp_path / "run" / "history.json")
    assert [h["phase"] for h in history] == ["pose", "pose", "joint", "joint"]
    assert {"val_top1_pose", "val_top1_motion"} <= set(history[0]) and "val_top1" not in history[0]
    assert {"val_top1", "val_top1_concat", "val_top1_appearance", "val_top1_pose"} <= set(history[3])
    assert torch.load(tmp_path / "run" / "model.pt", weights_only=True)["best"]["epoch"] in (3, 4)


def test_appearance_warmup_trains_the_cnn_and_appearance_head_alone_on_short_clips(tmp_path, monkeypatch):
    data = _frames_split(tmp_path)
    config = dataclasses.replace(CONFIG, variant="parnet", backbone="resnet_tiny", backbone_width=4,
                                 appearance_dim=8, joint_visibility=True)
    s = dataclasses.replace(SETTINGS, epochs=1, pose_warmup_epochs=1, appearance_warmup_epochs=1,
                            appearance_warmup_frames=2)
    real, clips = T.make_loader, []

    def record_clips(dataset, **kw):
        loader = real(dataset, **kw)
        if kw.get("shuffle"):
            clips.append(next(iter(loader))["frames"].shape[1:2])
        if kw.get("epoch") == stop[0] and kw.get("shuffle"):
            raise KeyboardInterrupt
        return loader

    run = dict(frames_dir=tmp_path / "frames", model_config=config, s=s, seed=SEED, run_dir=tmp_path / "run",
               plots_dir=tmp_path / "plots", run_info={"name": "w"})
    monkeypatch.setattr(T, "make_loader", record_clips)
    states = []
    for stop in ([1], [2]):                     # stop before the appearance warm-up, then before the joint epoch
        with pytest.raises(KeyboardInterrupt):
            train_run(data, **run)
        states.append(torch.load(tmp_path / "run" / "checkpoints" / "last.pt", weights_only=True)["model"])
    changed = {k for k, v in states[1].items() if not torch.equal(v, states[0][k])}
    assert changed and all(k.startswith(("backbone.", "sa.", "heads.heads.appearance")) for k in changed)
    assert any(k.startswith("backbone.") for k in changed) and any(k.startswith("sa.") for k in changed)
    stop = [-1]
    train_run(data, **run)
    history = read_json(tmp_path / "run" / "history.json")
    assert [h["phase"] for h in history] == ["pose", "appearance", "joint"]
    assert set(k for k in history[1] if k.startswith("val_top1")) == {"val_top1_appearance"}
    # the pose warm-up reads no frames, the appearance warm-up 2 per clip, the joint epoch all 4
    # (the two interrupted epochs opened their loaders too)
    assert [tuple(c) for c in clips] == [(0,), (2,), (2,), (4,), (4,)]
    assert torch.load(tmp_path / "run" / "model.pt", weights_only=True)["best"]["epoch"] == 3


def test_each_phase_has_its_own_warmup_decay_and_lr():
    f = [T.phased_lr_factor(s, phase_steps=(50, 100), warmup_steps=10, schedule="cosine", phase_scales=(3.0, 1.0))
         for s in range(150)]
    assert f[9] == pytest.approx(3.0) and f[49] < 0.01          # pose warm-up: to 3x the base lr, then down
    assert f[50] == pytest.approx(0.1) and f[59] == pytest.approx(1.0) and f[149] < 1e-3   # joint: anew


def test_a_finished_run_retrains_after_a_code_change_and_resumes_without_one(tmp_path, monkeypatch, capsys):
    # issue 24: DVC re-runs train after an edit of pipeline/model, and the persisted finished run
    # must not come back as the new model.
    _train(tmp_path, "run")
    capsys.readouterr()
    _train(tmp_path, "run")
    assert "training had finished" in capsys.readouterr().out   # same code: nothing retrained
    monkeypatch.setattr(T, "code_digest", lambda modules: "an edited model file")
    _train(tmp_path, "run")
    out = capsys.readouterr().out
    assert "starting afresh" in out and "epoch=1 " in out


def test_evaluate_refuses_a_model_of_other_classes_with_one_line(tmp_path):
    # issue 28, point 2: evaluate scored any model.pt against the split, whatever classes it knew
    from types import SimpleNamespace

    from pipeline.errors import InputError
    from pipeline.evaluate import evaluate_run
    from pipeline.model_io import save_model
    run = {"name": "run", "dataset": "toy", "split": "1"}
    kw = dict(frames_dir=None, s=SETTINGS, seed=SEED, batch_size=4, metrics_path=tmp_path / "m.json",
              plots_dir=tmp_path / "plots")
    for classes, message in ((["x", "y", "z"], r"was trained on classes \['x', 'y', 'z'\], the split has "
                                                r"\['a', 'b', 'c'\]"),
                             (["a", "b"], r"was trained on classes \['a', 'b'\]")):
        config = dataclasses.replace(CONFIG, num_classes=len(classes))
        save_model(tmp_path / "model.pt", build_model(config), config, SimpleNamespace(classes=classes), run,
                    {"top1": 0.5, "epoch": 1})
        with pytest.raises(InputError, match=rf"model.pt: {message}.*\. Fix: "):
            evaluate_run(pose_split(), tmp_path / "model.pt", **kw)
    with pytest.raises(InputError, match=r"gone/model.pt: no trained model"):
        evaluate_run(pose_split(), tmp_path / "gone" / "model.pt", **kw)
    assert not (tmp_path / "m.json").exists()


def test_evaluate_refuses_a_model_of_another_run_and_writes_nothing(tmp_path):
    # issue 28, point 2: the classes alone do not tell a split-2 model (or other clip settings) apart
    from types import SimpleNamespace

    from pipeline.errors import InputError
    from pipeline.evaluate import evaluate_run
    from pipeline.model_io import save_model
    trained = {"name": "toy_2", "dataset": "toy", "split": "2", "num_segments": 4, "input_size": 32}
    save_model(tmp_path / "model.pt", build_model(CONFIG), CONFIG, SimpleNamespace(classes=["a", "b", "c"]),
                trained, {"top1": 0.5, "epoch": 1})
    kw = dict(frames_dir=None, s=SETTINGS, seed=SEED, batch_size=4, metrics_path=tmp_path / "m.json",
              plots_dir=tmp_path / "plots", predictions_path=tmp_path / "p.csv")
    for evaluating, words in (({**trained, "split": "1"}, "split '2' (run: '1')"),
                              ({**trained, "num_segments": 8}, "num_segments 4 (run: 8)")):
        with pytest.raises(InputError, match=re.escape(words) + r".*not this run's model\. Fix: "):
            evaluate_run(pose_split(), tmp_path / "model.pt", run_info=evaluating, **kw)
        assert not any(p.exists() for p in (tmp_path / "m.json", tmp_path / "p.csv", tmp_path / "plots"))
    metrics = evaluate_run(pose_split(), tmp_path / "model.pt", run_info=trained, **kw)   # its own run: scored
    csv = pd.read_csv(tmp_path / "p.csv")
    assert len(csv) == 3 and metrics["concat"]["top1"] == pytest.approx((csv["concat"] == csv["label"]).mean())


def test_phase_epochs_are_the_epochs_or_what_makes_min_steps():
    assert T.phase_epochs(15, 2, 300) == 150          # issue 29: 9 clips at batch 8, the pose warm-up
    assert T.phase_epochs(10, 30, 300) == 10 and T.phase_epochs(10, 29, 300) == 11
    assert T.phase_epochs(15, 38, 300) == 15 and T.phase_epochs(3, 1, 0) == 3
    assert T.phase_epochs(0, 2, 300) == 0              # a phase that is off stays off


def test_the_default_profiles_floor_on_the_synthetic_dataset():
    """params.yaml's floor (600 steps, chosen on validation: docs/datasets.md) on the synth runs'
    training clips (after the validation carve): the joint phase keeps its 20 epochs, the pose
    warm-up gets the epochs that make 600 steps (20 for 240 clips, 16 for 300 instead of 15)."""
    from pipeline.params import load_params
    from pipeline.segments import carve
    from pipeline.synth.generate import in_test, plan

    p = load_params(ROOT / "params.yaml")
    videos = pd.DataFrame([(v.video_id, v.class_index, f"g{v.group:02d}", v.group)
                           for v in plan(p.synth.videos_per_class, p.synth.groups)],
                          columns=["video_id", "label_id", "group", "g"])
    clips = []
    for split in (1, 2, 3):
        train = videos[[not in_test(g, split) for g in videos["g"]]]
        clips.append(len(train) - len(carve(train, p.index.val_fraction, p.seed).val))
    assert clips == [240, 240, 300] and p.train.min_steps == 600
    assert (p.train.pose_warmup_epochs, p.train.epochs, p.train.batch_size) == (15, 20, 8)
    warmups = [T.phase_epochs(p.train.pose_warmup_epochs, -(-n // p.train.batch_size), p.train.min_steps) for n in clips]
    joints = [T.phase_epochs(p.train.epochs, -(-n // p.train.batch_size), p.train.min_steps) for n in clips]
    assert warmups == [20, 20, 16] and joints == [20, 20, 20]


def _more_clips(data: SplitData, copies: int) -> SplitData:
    """``data`` with its training clips ``copies`` times (new ids, the same poses)."""
    train = data.index[data.index["subset"] == "train"]
    extra = [train.assign(video_id=train["video_id"] + f"_{k}") for k in range(1, copies)]
    poses = {**data.poses, **{f"{v}_{k}": data.poses[v] for v in train["video_id"] for k in range(1, copies)}}
    sizes = {**data.sizes, **{f"{v}_{k}": data.sizes[v] for v in train["video_id"] for k in range(1, copies)}}
    return dataclasses.replace(data, index=pd.concat([data.index, *extra], ignore_index=True), poses=poses,
                               sizes=sizes)


def test_min_steps_gives_a_small_dataset_more_epochs_and_a_large_one_its_own(tmp_path, capsys):
    s = dataclasses.replace(SETTINGS, epochs=1, pose_warmup_epochs=1, min_steps=6)
    run = dict(frames_dir=None, model_config=CONFIG, seed=SEED, plots_dir=tmp_path / "plots", run_info={"name": "m"})
    # 12 training clips in batches of 4: 3 steps an epoch, so 2 epochs make the 6 steps
    train_run(pose_split(), s=s, run_dir=tmp_path / "small", **run)
    assert [h["phase"] for h in read_json(tmp_path / "small" / "history.json")] == ["pose", "pose", "joint", "joint"]
    assert "schedule (12 training clips, 3 steps per epoch, train.min_steps 6): pose 2 epochs, joint 2 epochs" \
        in capsys.readouterr().out
    # 24 clips: 6 steps an epoch, the epochs as given
    train_run(_more_clips(pose_split(), 2), s=s, run_dir=tmp_path / "large", **run)
    assert [h["phase"] for h in read_json(tmp_path / "large" / "history.json")] == ["pose", "joint"]
    # the floor is in the resume fingerprint (the settings): a finished run with another floor retrains
    capsys.readouterr()
    train_run(pose_split(), s=s, run_dir=tmp_path / "small", **run)
    assert "training had finished" in capsys.readouterr().out
    train_run(pose_split(), s=dataclasses.replace(s, min_steps=9), run_dir=tmp_path / "small", **run)
    assert "starting afresh" in capsys.readouterr().out
    assert len(read_json(tmp_path / "small" / "history.json")) == 6
