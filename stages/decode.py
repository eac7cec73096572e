"""Decode a dataset's videos into JPEG frames (resumable per video; decode.executor: local worker
processes, or ray: one Ray task per video)."""
from pathlib import Path

from pipeline import paths
from pipeline.decoding import DecodeSettings, decode_dataset
from pipeline.parallel import RayTasks
from stages.common import parse

if __name__ == "__main__":
    args, params = parse(__doc__, ("--dataset", {"required": True}))
    d, r = params.decode, params.ray
    ray = (RayTasks(address=r.address, num_cpus=r.decode.num_cpus, num_gpus=r.decode.num_gpus,
                    max_retries=r.max_retries) if d.executor == "ray" else None)
    decode_dataset(paths.manifest(args.dataset), Path(params.dataset(args.dataset).root),
                   paths.frames_dir(args.dataset), paths.frames_table(args.dataset),
                   settings=DecodeSettings(short_side=d.short_side, fps=d.fps, jpeg_quality=d.jpeg_quality),
                   workers=d.workers, strict=params.strict, ray=ray)
