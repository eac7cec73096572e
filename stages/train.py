"""Train PARNet for one run (dataset x split); resumes from its last checkpoint."""
import sys

from pipeline import paths
from pipeline.runs import run_spec
from pipeline.train import TrainingDiverged, train_run
from stages.common import parse

if __name__ == "__main__":
    args, params = parse(__doc__, ("--run", {"required": True}))
    spec = run_spec(params, args.run)
    try:
        train_run(spec.load_data(), frames_dir=spec.frames_dir, model_config=spec.model_config, s=spec.train,
                  seed=spec.seed, run_dir=paths.run_dir(args.run), plots_dir=paths.run_plots(args.run), run_info=spec.info(),
                  data_fingerprint=spec.data_fingerprint(), pose_augment=spec.pose_augment, pose_inputs=spec.pose_inputs,
                  features_dir=spec.features_dir)
    except TrainingDiverged as err:
        sys.exit(f"error: {err}")
