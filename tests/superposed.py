"""Known-answer models whose units superpose two blocks (frequencies or irreps), built exactly.

For a square activation, ``A**2 = ((A + B)**2 + (A - B)**2) / 2 - B**2``: a pair of units
``A`` (one block) and ``B`` (another) is replaced by three, ``A + B``, ``A - B`` and ``B``,
whose outputs ``w_A / 2``, ``w_A / 2`` and ``w_B - w_A`` give back ``w_A A**2 + w_B B**2``
exactly. Two of the three units superpose both blocks; their cross terms ``A B`` cancel in
the output. Projected onto one block each, the model breaks; onto two, it is unchanged.
"""

from __future__ import annotations

import torch

import fourier_interp as fi


def superpose_pairs(model: fi.HookedMLP, blocks: torch.Tensor) -> fi.HookedMLP:
    """A power-2 MLP computing exactly what ``model`` computes, with its units superposed in pairs.

    ``blocks`` ``[units]`` labels each unit's block; units of the two most common labels are
    paired (as many pairs as the rarer of them has units), every other unit is kept.
    """
    assert model.cfg.form == "power" and model.cfg.power == 2
    labels, counts = blocks.unique(return_counts=True)
    top = labels[counts.argsort(descending=True)[:2]]
    a_units = (blocks == top[0]).nonzero().flatten()
    b_units = (blocks == top[1]).nonzero().flatten()
    n = min(len(a_units), len(b_units))
    a_units, b_units = a_units[:n], b_units[:n]
    rest = [i for i in range(len(blocks)) if i not in set(a_units[:n].tolist()) | set(b_units[:n].tolist())]
    U, W = model.U.detach(), model.W_out.detach()  # [k, p, units], [units, p]
    A, B, wA, wB = U[:, :, a_units], U[:, :, b_units], W[a_units], W[b_units]
    new_U = torch.cat([A + B, A - B, B, U[:, :, rest]], dim=2)
    new_W = torch.cat([wA / 2, wA / 2, wB - wA, W[rest]], dim=0)
    fields = {k: v for k, v in vars(model.cfg).items() if k != "d_hidden"}
    out = fi.HookedMLP(fi.MLPConfig(**fields, d_hidden=new_U.shape[2]))
    with torch.no_grad():
        out.U.copy_(new_U)
        out.W_out.copy_(new_W)
    return out


def rotated_gcr(group, irreps, seed: int = 0) -> fi.HookedMLP:
    """``fi.planted_gcr`` in a random orthonormal basis of each irrep: ``Q rho(g) Q^T``, an equivalent representation.

    planted_gcr's units read single matrix entries ``rho(x)[a, b]``, which are constant on the
    cosets of whatever subgroup fixes the basis vectors involved; in a generic basis no unit is
    (so these units are irrep-selective without being coset-like).
    """
    gen = torch.Generator().manual_seed(seed)
    task = fi.GroupTask(group)
    left, right, rows = [], [], []
    for name in irreps:
        rho = group.irrep(name).matrices  # [order, d, d]
        d = rho.shape[-1]
        q, _ = torch.linalg.qr(torch.randn(d, d, generator=gen, dtype=torch.float64))
        rho = q @ rho @ q.T
        for a in range(d):
            for b in range(d):
                for c in range(d):
                    for sign in (1.0, -1.0):
                        left.append(rho[:, a, b])
                        right.append(sign * rho[:, b, c])
                        rows.append(sign * rho[:, a, c] / 4)
    model = fi.HookedMLP(fi.MLPConfig(**task.config_fields(), form="power", power=2, d_hidden=len(rows)))
    logits_scale = 12.0 / max(1e-9, float(torch.stack(rows).abs().max()))  # confident answers, as planted_gcr's
    with torch.no_grad():
        model.U.copy_(torch.stack([torch.stack(left, 1), torch.stack(right, 1)]).float())
        model.W_out.copy_((torch.stack(rows) * logits_scale).float())
    return model.eval()
