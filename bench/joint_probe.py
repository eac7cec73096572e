"""Do the frozen pretrained backbone's maps, read at a relation pair's joints, tell the pair apart?

    python -m bench.joint_probe [--run synth_1] [--pairs kick_ball,kick_air sit_on_chair,squat]
                                [--size 112] [--blocks 4 7 10]

The embedded dataset's two relation pairs differ only in where an object is relative to a joint (the
ball at the kicking foot, or elsewhere or absent; the chair under the hips, or elsewhere or absent).
PARNet's PA module can only see that where the backbone's map at that joint encodes the object.
This probe asks the frozen ImageNet EfficientNet-Lite0 (the default profile's backbone) directly:
for each clip of the pair (T frames, the evaluation view, as evaluate makes them: pipeline.data),
the map of a block is read at the pair's joints of every person present (bilinear), the maximum
over those points per frame, then the maximum and the mean over the clip's frames: one vector per
clip; beside it the map's mean over all positions (what pooled features see). A logistic
regression (L2, LBFGS) trained on the run's training clips is scored on its test clips: whole actor
groups the training never saw. Chance is 50 %. ``--size`` resizes the view before the backbone
(224: the ball twice as large). Needs `dvc repro` (frames, poses, index) first.
"""
from __future__ import annotations

import os

os.environ.setdefault("OMP_NUM_THREADS", "1")

import argparse  # noqa: E402

import numpy as np  # noqa: E402
import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402

from pipeline.clip_spec import ClipSpec  # noqa: E402
from pipeline.data import make_dataset  # noqa: E402
from pipeline.keypoints import INDEX  # noqa: E402
from pipeline.model.backbones import build_backbone, load_backbone_weights  # noqa: E402
from pipeline.params import load_params  # noqa: E402
from pipeline.pixels import to_pixels  # noqa: E402
from pipeline.runs import run_spec  # noqa: E402

JOINTS = {"kick_ball": ("right_ankle", "left_ankle"), "sit_on_chair": ("right_hip", "left_hip")}


def clip_vectors(maps: torch.Tensor, points: torch.Tensor, joints: list[int]) -> tuple[np.ndarray, np.ndarray]:
    """maps [T, C, h, w], points [T, N, 14, 3] normalised to the view -> (at the joints: max and
    mean over frames of the per-frame max over the joints' points [2C], whole map: mean [C])."""
    per_frame = []
    for t in range(maps.shape[0]):
        p = points[t][:, joints].reshape(-1, 3)
        p = p[torch.isfinite(p[:, 0]) & (p[:, 2] > 0)]
        if len(p) == 0:
            per_frame.append(torch.zeros(maps.shape[1]))
            continue
        grid = (p[:, :2] * 2 - 1).view(1, -1, 1, 2)
        per_frame.append(F.grid_sample(maps[t:t + 1], grid, align_corners=False)[0, :, :, 0].amax(1))
    at = torch.stack(per_frame)
    return torch.cat([at.amax(0), at.mean(0)]).numpy(), maps.mean((0, 2, 3)).numpy()


def probe(x: np.ndarray, y: np.ndarray, train: np.ndarray, l2: float = 1e-2) -> float:
    """Test accuracy of an L2 logistic regression fitted on the rows ``train``."""
    x = torch.tensor(x, dtype=torch.float32)
    mu, sd = x[train].mean(0), x[train].std(0) + 1e-5
    x = (x - mu) / sd
    target = torch.tensor(y, dtype=torch.float32)
    w = torch.zeros(x.shape[1], requires_grad=True)
    b = torch.zeros(1, requires_grad=True)
    opt = torch.optim.LBFGS([w, b], max_iter=300)

    def closure():
        opt.zero_grad()
        loss = F.binary_cross_entropy_with_logits(x[train] @ w + b, target[train]) + l2 * w.square().sum()
        loss.backward()
        return loss
    opt.step(closure)
    with torch.no_grad():
        pred = (x @ w + b > 0).float()
    return float((pred[~train] == target[~train]).float().mean())


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--params", default="params.yaml")
    ap.add_argument("--run", default="synth_1")
    ap.add_argument("--pairs", nargs="+", default=["kick_ball,kick_air", "sit_on_chair,squat"])
    ap.add_argument("--size", type=int, default=112, help="the view resized to this side before the backbone")
    ap.add_argument("--blocks", nargs="+", type=int, default=[4, 7, 10], help="Lite0 blocks (10: PARNet's mid map)")
    args = ap.parse_args()
    torch.set_num_threads(1)
    params = load_params(args.params)
    spec = run_spec(params, args.run)
    data = spec.load_data()
    backbone = build_backbone("efficientnet_lite0", 16, with_last=True)
    load_backbone_weights(backbone, "efficientnet_lite0", name="efficientnet_lite0", width=16)
    backbone.eval()
    clip = ClipSpec.from_settings(spec.train, num_segments=spec.num_segments, pose_augment=None,
                                  pose_inputs=spec.pose_inputs, input_convention=backbone.input_convention)
    print(f"run {args.run}, Lite0 at {args.size} px, blocks {args.blocks}; test top-1 of a linear probe (chance 50 %)")
    for pair in args.pairs:
        names = pair.split(",")
        joints = [INDEX[j] for j in JOINTS[names[0]]]
        vectors = {b: ([], []) for b in args.blocks}
        labels, is_train = [], []
        for subset in ("train", "test"):
            ds = make_dataset(data, subset, clip=clip, frames_dir=spec.frames_dir, max_persons=spec.model_config.num_persons,
                              seed=spec.seed, train=False)
            for i, row in enumerate(ds.rows.itertuples()):
                name = data.classes[int(row.label_id)]
                if name not in names:
                    continue
                item = ds[i]
                x = to_pixels(item["frames"], backbone.input_convention)
                x = F.interpolate(x, size=(args.size, args.size), mode="bilinear", align_corners=False) if args.size != x.shape[-1] else x
                with torch.no_grad():
                    maps = backbone.block_outputs(x, args.blocks)
                for b, m in maps.items():
                    at, whole = clip_vectors(m, item["points"], joints)
                    vectors[b][0].append(at)
                    vectors[b][1].append(whole)
                labels.append(names.index(name) == 0)
                is_train.append(subset == "train")
        y, train = np.array(labels, float), np.array(is_train)
        print(f"\n{names[0]} / {names[1]} at {JOINTS[names[0]]}: {train.sum()} training clips, {(~train).sum()} test clips")
        print("| block (channels, grid) | at the joints | whole map |\n|---|---|---|")
        for b in args.blocks:
            at, whole = np.stack(vectors[b][0]), np.stack(vectors[b][1])
            print(f"| {b} ({whole.shape[1]}) | {100 * probe(at, y, train):.1f} | {100 * probe(whole, y, train):.1f} |", flush=True)


if __name__ == "__main__":
    main()
