"""Decode a dataset's videos into JPEG frames (resumable per video)."""
from pathlib import Path

from pipeline import paths
from pipeline.decoding import DecodeSettings, decode_dataset
from stages.common import parse

if __name__ == "__main__":
    args, params = parse(__doc__, ("--dataset", {"required": True}))
    d = params.decode
    decode_dataset(paths.manifest(args.dataset), Path(params.dataset(args.dataset).root),
                   paths.frames_dir(args.dataset), paths.frames_table(args.dataset),
                   settings=DecodeSettings(short_side=d.short_side, fps=d.fps, jpeg_quality=d.jpeg_quality),
                   workers=d.workers, strict=params.strict)
