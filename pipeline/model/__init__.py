"""PARNet model (paper section III): TA-LSTM, TMP, SA and PA modules, heads and loss."""
from pipeline.model_config import VARIANTS, ModelConfig, ModelParams
from pipeline.model.heads import fused_probabilities, parnet_loss
from pipeline.model.parnet import BackboneMaps, PARNet, ParnetOutput, build_model

__all__ = ["BackboneMaps", "ModelConfig", "ModelParams", "PARNet", "ParnetOutput", "build_model", "parnet_loss",
           "fused_probabilities", "VARIANTS"]
