"""Build the segment index of every split of a dataset."""
from pipeline import paths
from pipeline.segments import build_indexes
from stages.common import parse

if __name__ == "__main__":
    args, params = parse(__doc__, ("--dataset", {"required": True}))
    build_indexes(paths.manifest(args.dataset), paths.frames_table(args.dataset),
                  paths.pose_videos(args.dataset), paths.index_dir(args.dataset),
                  num_segments=params.index.num_segments, val_fraction=params.index.val_fraction,
                  seed=params.seed)
