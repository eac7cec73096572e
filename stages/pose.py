"""Run the pose estimator chosen in params.yaml over a dataset (resumable per video; --shard i/n
splits the videos between machines, --merge joins their parts)."""
from pipeline import paths
from pipeline.pose.runner import PoseSettings, merge_parts, run_pose_stage
from pipeline.datasets.base import Manifest
from stages.common import parse

if __name__ == "__main__":
    args, params = parse(__doc__, ("--dataset", {"required": True}),
                         ("--shard", {"default": "0/1", "help": "i/n: process every n-th video from the i-th"}),
                         ("--merge", {"action": "store_true", "help": "only merge the parts of all shards"}))
    p, ds = params.pose, params.dataset(args.dataset)
    i, n = (int(v) for v in args.shard.split("/"))
    if not 0 <= i < n:
        raise SystemExit(f"--shard {args.shard}: need 0 <= i < n")
    settings = PoseSettings(estimator=p.estimator, options=p.backend_options(), max_persons=p.max_persons,
                            dtype=p.dtype, adapter=ds.adapter, root=ds.root,
                            frames_dir=str(paths.frames_dir(args.dataset)), tracking=p.tracking,
                            track_filter=p.track_filter_options())
    if args.merge:
        merge_parts(Manifest.load(paths.manifest(args.dataset)), paths.poses(args.dataset),
                    paths.pose_videos(args.dataset), paths.pose_parts(args.dataset), settings=settings)
    else:
        run_pose_stage(paths.manifest(args.dataset), paths.frames_table(args.dataset), paths.poses(args.dataset),
                       paths.pose_videos(args.dataset), paths.pose_parts(args.dataset), settings=settings,
                       workers=p.workers, strict=params.strict, shard=(i, n), merge=n == 1)
