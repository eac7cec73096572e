from __future__ import annotations

import os
from pathlib import Path

import warnings

import pytest

# torch.cuda imports the deprecated pynvml on import; nothing this project can act on.
warnings.filterwarnings("ignore", message="The pynvml package is deprecated", category=FutureWarning)
import torch  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
# Real public files for tests live beside the checkout (../shared/datasets), never inside it.
SHARED_DATASETS = Path(os.environ.get("PARNET_SHARED_DATASETS", ROOT.parent / "shared" / "datasets"))

# Parallel test workers and the pipeline's own workers each get one torch thread: two threads per
# process on two busy cores run many times slower.
torch.set_num_threads(1)


@pytest.fixture(scope="session")
def shared_datasets() -> Path:
    if not SHARED_DATASETS.is_dir():
        pytest.fail(f"{SHARED_DATASETS} not found: the real test files must sit in ../shared/datasets "
                    "beside the checkout (or set PARNET_SHARED_DATASETS)")
    return SHARED_DATASETS

