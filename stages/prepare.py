"""Build a dataset's manifest (videos, labels, official split membership) with its adapter."""
from pathlib import Path

from pipeline import paths
from pipeline.datasets import get_adapter, summarize
from stages.common import parse

if __name__ == "__main__":
    args, params = parse(__doc__, ("--dataset", {"required": True}))
    ds = params.dataset(args.dataset)
    manifest = get_adapter(ds.adapter).build_manifest(Path(ds.root), {"strict": params.strict, **ds.options})
    manifest.dataset = args.dataset
    manifest.save(paths.manifest(args.dataset))
    print(summarize(manifest))
