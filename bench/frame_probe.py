"""How much data the CNN needs to see an actor-object relation (issue 12): a frame-level probe.

    python -m bench.frame_probe [--pair sit_on_chair squat] [--configs 24x4 24x24 192x14 192x96 300x300]
                                [--steps 1000] [--val-videos 60] [--seed 0]

PARNet's appearance and relation heads reach the two relation pairs of the embedded dataset
(kick_ball / kick_air, sit_on_chair / squat) only through a CNN trained from scratch. This probe
isolates that CNN: the pipeline's ``resnet_tiny`` backbone plus one linear layer, trained on single
frames of one pair to tell its two classes apart, nothing else. Each config ``VxA`` renders V
videos per class whose actors come from A identities per class (the generator's groups: a group's
videos share the actor's clothes), 8 frames per video, with the generator (pipeline/synth) at the
default size, resized to the decode stage's 128-pixel short side. Training: random 112-pixel crops
of the frame, horizontal flips with probability 0.5, AdamW 1e-3, 32 frames per step. Validation: ``--val-videos``
further videos per class with actors of their own (none seen in training), centre crops; printed per
frame and per video (the mean of its frames' logits). Chance is 50 %.

A CNN that can remember a few actors per class learns them instead of the object: the probe shows
how the validation accuracy moves with the number of videos and of actors.
"""
from __future__ import annotations

import os

os.environ.setdefault("OMP_NUM_THREADS", "1")

import argparse  # noqa: E402
import time  # noqa: E402

import numpy as np  # noqa: E402
import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402
from PIL import Image  # noqa: E402

from pipeline.model.backbones import build_backbone  # noqa: E402
from pipeline.pixels import RGB_IMAGENET, to_pixels  # noqa: E402
from pipeline.synth import DEFAULTS  # noqa: E402
from pipeline.synth.classes import CLASS_NAMES  # noqa: E402
from pipeline.synth.clip import build_clip  # noqa: E402

FRAMES_PER_VIDEO = 8
SHORT_SIDE = 128
CROP = 112
BATCH = 32


def render_pair(pair, videos: int, identities: int, seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """uint8 frames [V*2*8, H, W, 3], labels (0/1) and video numbers, from generator seed ``seed``."""
    n = DEFAULTS["num_frames"]
    step = max(1, n // FRAMES_PER_VIDEO)
    frames, labels, video_of = [], [], []
    for label, name in enumerate(pair):
        k = CLASS_NAMES.index(name)
        for i in range(videos):
            clip = build_clip(k, rng=np.random.default_rng([seed, 0, k, i]),
                              identity_rng=np.random.default_rng([seed, 1, k, i % identities]),
                              num_frames=n, width=DEFAULTS["width"], height=DEFAULTS["height"],
                              fps=DEFAULTS["fps"])
            for f in range(0, n, step)[:FRAMES_PER_VIDEO]:
                img = Image.fromarray(clip.render(f))
                w = round(img.width * SHORT_SIDE / img.height)
                frames.append(np.asarray(img.resize((w, SHORT_SIDE), Image.BILINEAR)))
                labels.append(label)
                video_of.append(label * videos + i)
    return np.stack(frames), np.asarray(labels), np.asarray(video_of)


class Probe(torch.nn.Module):
    def __init__(self, width: int = 16):
        super().__init__()
        self.backbone = build_backbone("resnet_tiny", width)
        self.fc = torch.nn.Linear(self.backbone.out_channels, 2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(self.backbone(x)[1].mean((2, 3)))


def _batch(frames: np.ndarray, rng: np.random.Generator | None) -> torch.Tensor:
    """Random crops and flips (rng) or centre crops (None), as model pixels."""
    H, W = frames.shape[1:3]
    out = []
    for img in frames:
        if rng is None:
            y, x = (H - CROP) // 2, (W - CROP) // 2
        else:
            y, x = int(rng.integers(H - CROP + 1)), int(rng.integers(W - CROP + 1))
        crop = img[y:y + CROP, x:x + CROP]
        out.append(crop[:, ::-1] if rng is not None and rng.random() < 0.5 else crop)
    x = torch.from_numpy(np.ascontiguousarray(np.stack(out))).permute(0, 3, 1, 2)
    return to_pixels(x, RGB_IMAGENET)


def run(pair, videos: int, identities: int, val, *, steps: int, seed: int) -> dict:
    torch.manual_seed(seed)
    rng = np.random.default_rng(seed)
    X, Y, _ = render_pair(pair, videos, identities, seed)
    model = Probe()
    opt = torch.optim.AdamW(model.parameters(), 1e-3, weight_decay=4e-5)
    start = time.perf_counter()
    for _ in range(steps):
        idx = rng.integers(len(X), size=BATCH)
        loss = F.cross_entropy(model(_batch(X[idx], rng)), torch.from_numpy(Y[idx]))
        opt.zero_grad()
        loss.backward()
        opt.step()
    model.eval()
    Xv, Yv, Vv = val
    with torch.no_grad():
        logits = torch.cat([model(_batch(Xv[i:i + 256], None)) for i in range(0, len(Xv), 256)]).numpy()
    per_video = np.stack([logits[Vv == v].mean(0) for v in np.unique(Vv)])
    video_labels = np.asarray([Yv[Vv == v][0] for v in np.unique(Vv)])
    return {"videos": videos, "identities": min(identities, videos), "train_frames": len(X),
            "frame_top1": float((logits.argmax(1) == Yv).mean()),
            "video_top1": float((per_video.argmax(1) == video_labels).mean()),
            "train_loss_last": loss.item(), "seconds": time.perf_counter() - start}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--pair", nargs=2, default=["sit_on_chair", "squat"], choices=CLASS_NAMES)
    ap.add_argument("--configs", nargs="+", default=["24x4", "24x24", "192x14", "192x96", "300x300"],
                    help="VxA: V videos per class from A actors per class")
    ap.add_argument("--steps", type=int, default=1000)
    ap.add_argument("--val-videos", type=int, default=60)
    ap.add_argument("--seed", type=int, default=0)
    a = ap.parse_args()
    torch.set_num_threads(1)
    configs = []
    for c in a.configs:
        v, _, ident = c.partition("x")
        if not (v.isdigit() and ident.isdigit() and int(v) > 0 and int(ident) > 0):
            ap.error(f"--configs: {c!r} is not VxA with two positive integers, e.g. 192x14")
        configs.append((int(v), int(ident)))
    # Validation actors: another generator seed, one actor per video, none seen in training.
    val = render_pair(a.pair, a.val_videos, a.val_videos, a.seed + 1000)
    print(f"pair {a.pair[0]} / {a.pair[1]}: {a.steps} steps of {BATCH} frames; validation "
          f"{2 * a.val_videos} videos ({len(val[0])} frames) with unseen actors; chance 50 %")
    print("| videos per class | actors per class | train frames | val top-1 per frame | "
          "val top-1 per video | last train loss | train s |")
    print("|---|---|---|---|---|---|---|")
    for videos, identities in configs:
        r = run(a.pair, videos, identities, val, steps=a.steps, seed=a.seed)
        print(f"| {r['videos']} | {r['identities']} | {r['train_frames']} | {100 * r['frame_top1']:.1f} | "
              f"{100 * r['video_top1']:.1f} | {r['train_loss_last']:.3f} | {r['seconds']:.0f} |", flush=True)


if __name__ == "__main__":
    main()
