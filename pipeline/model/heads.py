"""Classification heads and loss (paper section III-F, eqs. 20-21)."""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

# The order of eq. 20: H = [h_p; h_v; h_r; F].
STREAM_ORDER = ("pose", "motion", "relation", "appearance")


class Heads(nn.Module):
    """A linear head on the concatenation H of the representations and one on each of them.

    A variant with a single representation (sa) has only the "concat" head: a second head on the
    same vector would be a duplicate classifier, and "concat" is what training and evaluation read."""

    def __init__(self, sizes: dict[str, int], num_classes: int):
        super().__init__()
        self.streams = tuple(name for name in STREAM_ORDER if name in sizes)
        heads = {"concat": nn.Linear(sum(sizes[s] for s in self.streams), num_classes)}
        if len(self.streams) > 1:
            heads.update({s: nn.Linear(sizes[s], num_classes) for s in self.streams})
        self.heads = nn.ModuleDict(heads)

    def forward(self, reps: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        concat = torch.cat([reps[s] for s in self.streams], dim=-1)                 # eq. 20
        return {name: head(concat if name == "concat" else reps[name])
                for name, head in self.heads.items()}


def parnet_loss(output, labels: torch.Tensor) -> torch.Tensor:
    """Sum of the heads' cross-entropies with coefficient 1 (eq. 21); the L2 term of eq. 21 is the
    optimiser's weight decay. ``output``: a ParnetOutput or a dict of logits per head."""
    logits = output.logits if hasattr(output, "logits") else output
    return sum(F.cross_entropy(v.float(), labels) for v in logits.values())


def fused_probabilities(output) -> torch.Tensor:
    """Mean of the softmaxes of the stream heads (every head but "concat"); a single-head variant
    gives its own softmax."""
    streams = [v for k, v in output.logits.items() if k != "concat"] or [output.logits["concat"]]
    return torch.stack([torch.softmax(v.float(), dim=-1) for v in streams]).mean(0)
