"""Export a dataset's poses (the pose stage's Parquet) as a pyskl/mmaction2 pickle or OpenPose
--write_json folders (pipeline/export_poses.py documents both)."""
from pathlib import Path

from pipeline import paths
from pipeline.export_poses import FORMATS, export_poses
from stages.common import parse

if __name__ == "__main__":
    args, params = parse(__doc__, ("--dataset", {"required": True}),
                         ("--format", {"required": True, "choices": sorted(FORMATS)}),
                         ("--layout", {"default": None, "help": "pyskl: aic14 (default) | coco17; "
                                                                "openpose_json: body25 (default) | coco18"}),
                         ("--dtype", {"default": "float32", "choices": ["float32", "float16"],
                                      "help": "pyskl arrays (pyskl's own files are float16)"}),
                         ("--out", {"default": None, "help": "default data/exports/<dataset>.pkl or "
                                                             "data/exports/<dataset>_openpose/"}))
    out = Path(args.out) if args.out else (paths.DATA / "exports" / (
        f"{args.dataset}.pkl" if args.format == "pyskl" else f"{args.dataset}_openpose"))
    try:
        result = export_poses(paths.manifest(args.dataset), paths.poses(args.dataset),
                              paths.pose_videos(args.dataset), out, fmt=args.format, layout=args.layout,
                              dtype=args.dtype, root=Path(params.dataset(args.dataset).root))
    except ValueError as err:
        raise SystemExit(f"export_poses: {err}") from None
    skipped = result["skipped"]
    print(f"export {args.dataset}: {result['written']} videos as {args.format} ({result['layout']}) -> {out}"
          + (f"; {len(skipped)} videos without poses left out (e.g. {', '.join(skipped[:5])})" if skipped else ""))
