"""Evaluate one run's model on its split's test subset: metrics, plots and per-video predictions."""
from pipeline import paths
from pipeline.evaluate import evaluate_run
from pipeline.io import read_parquet_metadata
from pipeline.runs import run_spec
from stages.common import parse

if __name__ == "__main__":
    args, params = parse(__doc__, ("--run", {"required": True}))
    spec = run_spec(params, args.run)
    evaluate_run(spec.load_data(), paths.run_dir(args.run) / "model.pt", frames_dir=spec.frames_dir, s=spec.train,
                 seed=spec.seed, batch_size=params.evaluate.batch_size, metrics_path=paths.run_metrics(args.run),
                 plots_dir=paths.run_plots(args.run), index_path=spec.index_path,
                 skipped=read_parquet_metadata(spec.index_path).get("skipped", []), device=params.evaluate.device,
                 predictions_path=paths.run_predictions(args.run), run_info=spec.info(),
                 features_dir=spec.features_dir)
