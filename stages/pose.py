"""Run the pose estimator chosen in params.yaml over a dataset (resumable per video; --shard i/n
splits the videos between machines, --merge joins their parts). pose.executor: local runs worker
processes here (one per GPU for an estimator on the GPU), ray one Ray task per video."""
from pipeline import paths
from pipeline.parallel import RayTasks, visible_gpus
from pipeline.pose.runner import PoseSettings, merge_parts, pose_devices, run_pose_stage
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
        ray = devices = None
        if p.executor == "ray":
            r = params.ray
            ray = RayTasks(address=r.address, num_cpus=r.pose.num_cpus, num_gpus=r.pose.num_gpus,
                           max_retries=r.max_retries)
        else:
            devices = pose_devices(p.estimator, settings.options, gpus=p.gpus, workers_per_gpu=p.workers_per_gpu,
                                   visible=visible_gpus())
        run_pose_stage(paths.manifest(args.dataset), paths.frames_table(args.dataset), paths.poses(args.dataset),
                       paths.pose_videos(args.dataset), paths.pose_parts(args.dataset), settings=settings,
                       workers=p.workers, strict=params.strict, shard=(i, n), merge=n == 1,
                       devices=devices or [], ray=ray)
