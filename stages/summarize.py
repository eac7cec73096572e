"""Average every run's metrics over each dataset's splits."""
from pipeline import paths
from pipeline.evaluate import summarize_runs
from stages.common import parse

if __name__ == "__main__":
    args, params = parse(__doc__)
    summarize_runs({r: paths.run_metrics(r) for r in params.runs}, {r: v.dataset for r, v in params.runs.items()},
                   paths.summary_metrics(), predictions={r: paths.run_predictions(r) for r in params.runs})
