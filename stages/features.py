"""Cache a frozen pretrained backbone's maps of a dataset's frames once, for every run's training
(pipeline/features.py); where the backbone trains, or no variant reads frames, only a meta.json
saying so is written."""
import pandas as pd
import torch

from pipeline import paths
from pipeline.features import cache_applies, extract_dataset, feature_spec, write_unused
from pipeline.model_config import VARIANT_STREAMS
from stages.common import parse

if __name__ == "__main__":
    args, params = parse(__doc__, ("--dataset", {"required": True}))
    model, t = params.model, params.train
    torch.set_num_threads(max(1, t.threads))
    uses_frames = bool(set(VARIANT_STREAMS[model.variant]) & {"appearance", "relation"})
    out = paths.features_dir(args.dataset)
    table_path = paths.frames_table(args.dataset)
    if not cache_applies(model.pretrained, t.backbone_lr_mult, uses_frames):
        write_unused(out, "the backbone trains (model.pretrained null or train.backbone_lr_mult > 0) "
                          "or the variant reads no frames")
    elif not table_path.exists():
        write_unused(out, "the dataset has no decoded frames (pose-only)")
    else:
        table = pd.read_parquet(table_path)
        table = table[table["status"] == "ok"]
        spec = feature_spec(backbone=model.backbone, backbone_width=model.backbone_width,
                            pretrained=model.pretrained,
                            view=t.view, input_size=t.input_size, resize_short=t.resize_short,
                            frame_size=t.frame_size)
        videos = [(v, int(n), (int(w), int(h))) for v, n, w, h in
                  zip(table["video_id"], table["num_frames"], table["width"], table["height"])]
        done = extract_dataset(paths.frames_dir(args.dataset), videos, out, spec, model.pretrained)
        print(f"{out}: maps of {len(videos)} videos ({done} computed now, {len(videos) - done} kept)")
