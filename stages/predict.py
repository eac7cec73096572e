"""Recognise the actions in a video with a trained model: prints the top-k actions, and optionally
writes them as JSON, a contact sheet of the sampled frames and an annotated MP4 showing what the
model attended to (person weights on the skeletons, the pose-aware attention map).

Without --model it uses the model zoo's default entry (zoo/registry.yaml); --list-models lists the
zoo and your own models/<run>/model.pt."""
from __future__ import annotations

import argparse
import json
import sys

from pipeline import zoo
from pipeline.pose.estimators import IMAGE_BACKENDS
from pipeline.predict import POSE_SHORT_SIDE, PredictError, predict_video
from pipeline.visualize import LOW_SCORE


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m stages.predict", description=__doc__)
    parser.add_argument("video", nargs="?", help="a video file (or a folder of frames)")
    parser.add_argument("--model", help="a zoo entry's name or a trained model.pt "
                                        "(default: the zoo's default entry; see --list-models)")
    parser.add_argument("--list-models", action="store_true",
                        help="list the zoo's models and yours (models/<run>/model.pt) and exit")
    parser.add_argument("--estimator", choices=(*IMAGE_BACKENDS, "groundtruth"),
                        help="pose estimator (default: the one the model was trained with; "
                             "blazepose for a model trained on ground truth)")
    parser.add_argument("--pose-options", metavar="JSON",
                        help='estimator options merged over the chosen ones, e.g. \'{"min_score": 0.3}\'')
    parser.add_argument("--top", type=int, default=5, help="how many actions to list (default 5)")
    parser.add_argument("--json", metavar="PATH", help="write the result as JSON")
    parser.add_argument("--sheet", metavar="PATH", help="write a PNG contact sheet of the sampled frames")
    parser.add_argument("--mp4", metavar="PATH", help="write an annotated MP4 of the sampled frames")
    parser.add_argument("--mp4-fps", type=float, default=2.0, help="frames per second of the MP4 (default 2)")
    parser.add_argument("--display-size", type=int, default=224,
                        help="side of each rendered frame in pixels (default 224)")
    parser.add_argument("--pose-short-side", type=int, default=POSE_SHORT_SIDE,
                        help="the estimator sees the video at its own size with the short side at most "
                             f"this many pixels (default {POSE_SHORT_SIDE}; 0: no cap)")
    parser.add_argument("--low-score", type=float, default=LOW_SCORE,
                        help=f"people the estimator scores below are drawn faded (default {LOW_SCORE})")
    parser.add_argument("--device", default="cpu", choices=("cpu", "cuda", "auto"))
    args = parser.parse_args(argv)
    if not args.list_models and not args.video:
        parser.error("give a video (or --list-models)")
    return args


def main(argv=None) -> int:
    args = parse_args(argv)
    if args.list_models:
        try:
            print(zoo.listing(zoo.available_models()))
        except zoo.ZooError as err:
            print(f"error: {err}", file=sys.stderr)
            return 1
        return 0
    try:
        options = json.loads(args.pose_options) if args.pose_options else None
        if options is not None and not isinstance(options, dict):
            raise ValueError("not a JSON object")
    except ValueError as err:
        print(f"error: --pose-options: {err}", file=sys.stderr)
        return 2
    try:
        result = predict_video(args.video, args.model, estimator=args.estimator, pose_options=options,
                               top=args.top, json_path=args.json, sheet_path=args.sheet, mp4_path=args.mp4,
                               mp4_fps=args.mp4_fps, display_size=args.display_size, device=args.device,
                               pose_short_side=args.pose_short_side or None, low_score=args.low_score)
    except (PredictError, OSError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    print(result.text())
    return 0


if __name__ == "__main__":
    sys.exit(main())
