"""Two models of a user's own design, for the verdict zoo (scripts/zoo.py).

Plain PyTorch modules, written the way a researcher would write them, wrapped with
``fi.HookedWrapper``; nothing in them knows about this library. They live in an importable
module so a saved wrapper can be loaded back (``fi.load``).
"""

from __future__ import annotations

import torch
from torch import nn


class TwoTowerGELU(nn.Module):
    """Each operand through its own tower (embedding, linear, GELU), then a joint GELU layer.

    The towers see one operand each; the operands first meet in ``joint`` — the layer
    whose output (hook ``"act2"``) is where an algorithm combining them can live.
    """

    def __init__(self, p: int = 31, d_tower: int = 64, d_joint: int = 256, seed: int = 0):
        super().__init__()
        torch.manual_seed(seed)
        self.embed_a, self.embed_b = nn.Embedding(p, d_tower), nn.Embedding(p, d_tower)
        self.tower_a, self.tower_b = nn.Linear(d_tower, d_tower), nn.Linear(d_tower, d_tower)
        self.act_a, self.act_b = nn.GELU(), nn.GELU()
        self.joint = nn.Linear(2 * d_tower, d_joint)
        self.act2 = nn.GELU()
        self.readout = nn.Linear(d_joint, p)

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # x: [batch, 2] operands
        a = self.act_a(self.tower_a(self.embed_a(x[:, 0])))
        b = self.act_b(self.tower_b(self.embed_b(x[:, 1])))
        return self.readout(self.act2(self.joint(torch.cat([a, b], dim=-1))))


class SummedReLU(nn.Module):
    """One shared embedding; the operands' embeddings are added, then one ReLU layer.

    The sum ``E(a) + E(b)`` is the pizza's first step: with a positively homogeneous
    activation each single-frequency unit's output scales with ``|cos(w (a - b) / 2)|``.
    """

    def __init__(self, p: int = 31, d_embed: int = 128, d_hidden: int = 256, seed: int = 0):
        super().__init__()
        torch.manual_seed(seed)
        self.embed = nn.Embedding(p, d_embed)
        self.hidden = nn.Linear(d_embed, d_hidden)
        self.act = nn.ReLU()
        self.readout = nn.Linear(d_hidden, p)

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # x: [batch, k] operands
        return self.readout(self.act(self.hidden(self.embed(x).sum(1))))
