"""Draw 14-keypoint skeletons over the frames of a video, to numbered PNGs and/or an MP4.

  python -m stages.draw_poses --dataset synth --video synth_bowling_g01_c01 --mp4 out.mp4
      the pose stage's output for a dataset video, over its decoded frames
  python -m stages.draw_poses my_clip.mp4 --estimator blazepose --png-dir out/ --mp4 out.mp4
      an estimator run directly on a video file as the pose stage runs it (params.yaml's pose
      section: the estimator's options and video mode, tracking and the track filter)
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from pipeline.draw_poses import DrawPosesError, draw_pose_video, from_estimator, from_pose_stage
from pipeline.params import check_name, load_params
from pipeline.pose.estimators import IMAGE_BACKENDS, build_estimator
from pipeline.pose.video_pose import settings_from_params
from pipeline.visualize import LOW_SCORE


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m stages.draw_poses", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("video_file", nargs="?", help="a video file to run --estimator on")
    parser.add_argument("--dataset", help="a dataset of params.yaml whose pose output to draw")
    parser.add_argument("--video", help="the video_id within --dataset")
    parser.add_argument("--estimator", choices=IMAGE_BACKENDS,
                        help="estimator for a video file (default: params.yaml's pose.estimator when "
                             "it is an image estimator, else blazepose)")
    parser.add_argument("--pose-options", metavar="JSON", help="options merged over params.yaml's")
    parser.add_argument("--max-frames", type=int, help="only the first frames of a video file")
    parser.add_argument("--png-dir", type=Path, help="write frame_000000.png ... here")
    parser.add_argument("--mp4", type=Path, help="write an H.264 MP4 here")
    parser.add_argument("--every", type=int, default=1, help="draw every k-th frame (default 1)")
    parser.add_argument("--fps", type=float, help="MP4 frame rate (default: the video's / every)")
    parser.add_argument("--low-score", type=float, default=LOW_SCORE,
                        help=f"people scored below are drawn faded and marked low (default {LOW_SCORE})")
    parser.add_argument("--params", default="params.yaml")
    args = parser.parse_args(argv)
    if bool(args.video_file) == bool(args.dataset):
        parser.error("give either a video file or --dataset with --video")
    if args.dataset and not args.video:
        parser.error("--dataset needs --video VIDEO_ID")
    if not args.png_dir and not args.mp4:
        parser.error("give --png-dir and/or --mp4")
    return args


def main(argv=None) -> int:
    args = parse_args(argv)
    try:
        if args.dataset:
            pose = from_pose_stage(check_name(args.dataset, "--dataset"), args.video)
        else:
            p = load_params(args.params).pose
            settings = settings_from_params(p)   # as the pose stage would pose it
            name = args.estimator or (p.estimator if p.estimator in IMAGE_BACKENDS else "blazepose")
            options = dict(settings.estimators[name])
            if args.pose_options:
                extra = json.loads(args.pose_options)
                if not isinstance(extra, dict):
                    raise DrawPosesError("--pose-options: not a JSON object")
                options.update(extra)
            estimator = build_estimator(name, options, p.max_persons)
            pose = from_estimator(Path(args.video_file), estimator, max_persons=p.max_persons,
                                  max_frames=args.max_frames, tracking=settings.tracking,
                                  track_filter=settings.track_filter)
        summary = draw_pose_video(pose, png_dir=args.png_dir, mp4_path=args.mp4, every=args.every,
                                  fps=args.fps, low_score=args.low_score)
    except (DrawPosesError, OSError, ValueError, ImportError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    print(f"{summary['video']}: {summary['frames_drawn']} frames drawn, "
          f"{summary['frames_with_person']} with a person"
          + (f"; PNGs in {summary['png_dir']}" if summary["png_dir"] else "")
          + (f"; MP4 {summary['mp4']}" if summary["mp4"] else ""))
    return 0


if __name__ == "__main__":
    sys.exit(main())
