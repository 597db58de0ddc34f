"""Marchetti et al.'s irrep-by-irrep learning order, where it is cheap to show.

    python scripts/learning_order.py run --out docs/reproductions      # about 3 minutes on one core
    python scripts/learning_order.py table --out docs/reproductions    # the markdown table of docs/reproductions.md

Marchetti, Kunin, Myers, Acosta, Miolane (2026), "Sequential group composition": a network
sees ``k`` elements of a finite group G, each encoded as a translate of a fixed template
``x`` on G (``e_g(h) = x(g^-1 h)``), and regresses the encoding of their product. From a
small initialisation a two-layer network learns the target one irrep at a time, in an order
set by how much of the template's power lies in each irrep: the loss falls in a staircase.

This script builds that setting around the library's groups (``fi.groups``) and tasks
(``fi.GroupTask``): a template with a chosen share of its energy in each irrep, the
encoding matrix it gives, and a two-layer network ``((sum_j e_{g_j} W_in[j]) ** 2) W_out`` on
the frozen encoding (:class:`EncodedQuadraticMLP`; the library's ``HookedMLP`` takes one-hot
tokens, whose spectrum is flat). Three kinds of run:

* ``regression``: the paper's setting. Mean squared error against ``e_{g_1 ... g_k}``, plain
  full-batch gradient descent (written here: ``fi.train`` uses AdamW and cross-entropy). At
  every evaluation each irrep's share of the target that the output explains
  (:func:`irrep_r2`) is recorded; an irrep is *learned* at the first evaluation where that
  share reaches ``LEARNED`` (its *onset* at ``ONSET``, its *completion* at ``COMPLETE``).
* ``cross_entropy``: the same network trained by the library (``fi.train``: AdamW,
  cross-entropy on the product's index), recording each irrep's share of the centred logits
  (``fourier_interp.analysis.irreps.logit_irreps``) through a callback.
* ``one_hot``: the library's power MLP (``fi.HookedMLP``, one-hot inputs, small
  ``init_scale``) under ``fi.train``: a flat spectrum, so nothing to order by.

Each run appends one JSON line to ``OUT/learning-order.jsonl``; ``run`` also draws
``OUT/learning-order.png``.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import time
from pathlib import Path
from typing import Optional

import torch
from jaxtyping import Float, Int
from torch import Tensor, nn

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import fourier_interp as fi  # noqa: E402
from fourier_interp.analysis.irreps import logit_irreps  # noqa: E402

ONSET, LEARNED, COMPLETE = 0.2, 0.5, 0.9  # shares of an irrep's target energy explained

# Energy share of the template in each non-trivial irrep. The Z_11 amplitudes fall by 0.8 a
# step (energies by 0.64), assigned out of frequency order, and reversed in template B.
_AMPS = [0.8**i for i in range(5)]
Z11_A = dict(zip(["f3", "f1", "f5", "f2", "f4"], [a * a for a in _AMPS]))
Z11_B = dict(zip(["f4", "f2", "f5", "f1", "f3"], [a * a for a in _AMPS]))
Z11_FLAT = {f"f{i}": 1.0 for i in range(1, 6)}
# D_5: rot1 holds the most energy, sign the most per dimension (sign is 1-d, rot1 and rot2 2-d).
D5 = {"rot1": 0.45, "sign": 0.35, "rot2": 0.20}

SETTINGS = {  # name: group, template energies, steps of gradient descent
    "Z11-A": ("cyclic(11)", Z11_A, 40_000),
    "Z11-B": ("cyclic(11)", Z11_B, 40_000),
    "Z11-flat": ("cyclic(11)", Z11_FLAT, 20_000),
    "D5": ("dihedral(5)", D5, 30_000),
}
SEEDS = (0, 1, 2)
REGRESSION = dict(d_hidden=64, init_scale=0.01, lr=0.1, eval_every=100)
CROSS_ENTROPY = dict(d_hidden=64, init_scale=0.01, lr=1e-3, steps=1000, eval_every=20)
ONE_HOT = dict(d_hidden=64, init_scale=0.1, lr=1e-3, steps=400, eval_every=20)


# ------------------------------------------------------------------ encoding
def template(group: fi.groups.Group, energy: dict[str, float], seed: int) -> Float[Tensor, " order"]:
    """A unit-norm function on ``group`` with the given share of its energy in each irrep.

    Within an irrep the direction is random (seeded); for an irrep whose basis rows are all
    its ``d x d`` matrix entries the coefficients form a random orthogonal matrix, so the
    template's Fourier coefficient at that irrep has ``d`` equal singular values. Irreps not
    named (the trivial one included) get no energy.

    Example:
        >>> x = template(fi.groups.cyclic(7), {"f2": 0.75, "f1": 0.25}, seed=0)
        >>> fi.analysis.irreps.irrep_norms(x, fi.groups.cyclic(7)).round(decimals=2).tolist()
        [0.0, 0.25, 0.75, 0.0]
    """
    group.check_irrep_names(list(energy))
    gen = torch.Generator().manual_seed(seed)
    coeffs = torch.zeros(group.order, dtype=torch.float64)
    owner = group.basis_irreps()
    total = sum(energy.values())
    for name, e in energy.items():
        rep = group.irrep(name)
        rows = (owner == group.irrep_names.index(name)).nonzero().flatten()
        if len(rows) == rep.dim**2 and rep.dim > 1:  # rows are the entries [i, j], column-major
            q, _ = torch.linalg.qr(torch.randn(rep.dim, rep.dim, generator=gen, dtype=torch.float64))
            v = q.T.flatten()
        else:
            v = torch.randn(len(rows), generator=gen, dtype=torch.float64)
        coeffs[rows] = (e / total) ** 0.5 * v / v.norm()
    return group.fourier_basis(dtype=torch.float64).T @ coeffs


def regular_encoding(group: fi.groups.Group, x: Float[Tensor, " order"]) -> Float[Tensor, "order order"]:
    """``E[g, h] = x(g^-1 h)``: row ``g`` is the template translated by ``g``."""
    g = torch.arange(group.order)
    return x[group.compose(group.inverse(g)[:, None], g[None, :])]


def fourier_sigma(group: fi.groups.Group, x: Float[Tensor, " order"]) -> dict[str, float]:
    """Largest singular value of the template's Fourier coefficient ``x_hat(rho) = sum_g x(g) rho(g)``, per irrep.

    For a ``d``-dimensional irrep whose coefficient is a multiple of an orthogonal matrix (as
    :func:`template` builds them) ``sigma^2 = order * energy / d^2``; for Z_n all irreps
    are 2-d and ``sigma^2 = order * energy / 2``.
    """
    return {rep.name: float(torch.linalg.matrix_norm(torch.einsum("g,gij->ij", x.double(), rep.matrices.double()), ord=2))
            for rep in group.irreps()}


def irrep_r2(out: Float[Tensor, "n order"], target: Float[Tensor, "n order"],
             group: fi.groups.Group) -> Float[Tensor, " irreps"]:
    """Share of the target's energy in each irrep (along the output axis) that ``out`` explains.

    ``1 - |P_rho (out - target)|^2 / |P_rho target|^2`` with ``P_rho`` the projection on the
    irrep's rows of ``group.fourier_basis()``; ``nan`` where the target has no energy.
    """
    basis = group.fourier_basis(dtype=torch.float64)
    owner = group.basis_irreps()
    err = torch.zeros(len(group.irreps()), dtype=torch.float64).index_add_(
        0, owner, ((out.double() - target.double()) @ basis.T).pow(2).sum(0))
    ref = torch.zeros_like(err).index_add_(0, owner, (target.double() @ basis.T).pow(2).sum(0))
    return torch.where(ref > 1e-12 * ref.sum(), 1 - err / ref.clamp_min(1e-300), torch.full_like(ref, math.nan))


# ------------------------------------------------------------------ model
class EncodedQuadraticMLP(nn.Module):
    """``logits = (sum_j E[g_j] @ W_in[j]) ** 2 @ W_out`` on a frozen encoding ``E`` (a buffer).

    Marchetti et al.'s two-layer network with the square activation; maps ``[batch, k]``
    element indices to ``[batch, order]`` outputs, so ``fi.train`` can train it too.
    """

    def __init__(self, encoding: Float[Tensor, "order d"], k: int, d_hidden: int, init_scale: float, seed: int):
        super().__init__()
        gen = torch.Generator().manual_seed(seed)
        order, d = encoding.shape
        self.register_buffer("E", encoding.float())  # [order, d], not trained
        self.W_in = nn.Parameter(init_scale * torch.randn(k, d, d_hidden, generator=gen))  # [k, d, d_hidden]
        self.W_out = nn.Parameter(init_scale * torch.randn(d_hidden, order, generator=gen))  # [d_hidden, order]

    def forward(self, inputs: Int[Tensor, "batch k"]) -> Float[Tensor, "batch order"]:
        pre = torch.einsum("bkd,kdm->bm", self.E[inputs], self.W_in)  # [batch, d_hidden]
        return pre.pow(2) @ self.W_out  # [batch, order]


# ------------------------------------------------------------------ runs
def first_step(records: list[dict], key: str, index: int, level: float) -> Optional[int]:
    """Step of the first record whose ``key[index]`` reaches ``level`` (``None``: never)."""
    return next((r["step"] for r in records if r[key][index] >= level), None)


def regression(group: fi.groups.Group, energy: dict[str, float], seed: int, steps: int) -> tuple[list[dict], Tensor]:
    """Gradient descent on the mean squared error to the product's encoding, from a small init.

    Returns one record per evaluation (``step``, ``loss``, ``r2``: :func:`irrep_r2` in
    ``group.irreps()`` order) and the template.
    """
    task = fi.GroupTask(group, k=2, frac_train=1.0, seed=0)  # the whole grid, as in the paper
    x = template(group, energy, seed)
    encoding = regular_encoding(group, x)
    model = EncodedQuadraticMLP(encoding, task.k, REGRESSION["d_hidden"], REGRESSION["init_scale"], seed)
    target = encoding.float()[task.labels]  # [n, order]: the product's encoding (the task owns the answers)
    params = [model.W_in, model.W_out]
    records = []
    for step in range(steps + 1):
        out = model(task.inputs)
        loss = (out - target).pow(2).sum(1).mean()
        if step % REGRESSION["eval_every"] == 0:
            r2 = irrep_r2(out.detach(), target, group)
            records.append({"step": step, "loss": float(loss.detach()), "r2": [round(float(v), 4) for v in r2]})
        if step == steps:
            break
        grads = torch.autograd.grad(loss, params)
        with torch.no_grad():
            for p, g in zip(params, grads):
                p -= REGRESSION["lr"] * g
    return records, x


def run_regression(setting: str, seed: int) -> dict:
    """One regression run of ``SETTINGS[setting]``, summarised."""
    spec, energy, steps = SETTINGS[setting]
    group = fi.groups.from_spec(spec)
    t0 = time.perf_counter()
    records, x = regression(group, energy, seed, steps)
    return summarise(setting, "regression", seed, group, energy, fourier_sigma(group, x), records, "r2", steps,
                     time.perf_counter() - t0)


def run_cross_entropy(setting: str, seed: int) -> dict:
    """The same network under ``fi.train`` (AdamW, cross-entropy), recording the logits' irrep shares."""
    spec, energy, _ = SETTINGS[setting]
    group = fi.groups.from_spec(spec)
    task = fi.GroupTask(group, k=2, frac_train=1.0, seed=0)
    x = template(group, energy, seed)
    model = EncodedQuadraticMLP(regular_encoding(group, x), task.k, CROSS_ENTROPY["d_hidden"],
                                CROSS_ENTROPY["init_scale"], seed)
    return _library_run(setting, "cross_entropy", seed, model, task, energy, fourier_sigma(group, x), CROSS_ENTROPY)


def run_one_hot(setting: str, seed: int) -> dict:
    """The library's power MLP on one-hot tokens (a flat spectrum) under ``fi.train``."""
    spec, _, _ = SETTINGS[setting]
    group = fi.groups.from_spec(spec)
    task = fi.GroupTask(group, k=2, frac_train=1.0, seed=0)
    model = fi.HookedMLP(fi.MLPConfig(**task.config_fields(), form="power", d_hidden=ONE_HOT["d_hidden"],
                                      init_scale=ONE_HOT["init_scale"], seed=seed))
    one_hot = torch.zeros(group.order, dtype=torch.float64)
    one_hot[group.element(0)] = 1.0  # the encoding of g is the one-hot vector of g: the template is a delta
    flat = {name: 1.0 for name in group.irrep_names[1:]}
    return _library_run(setting, "one_hot", seed, model, task, flat, fourier_sigma(group, one_hot), ONE_HOT)


def _library_run(setting, kind, seed, model, task, energy, sigma, opts) -> dict:
    def shares(model, task, logits, step):
        return {"share": [round(float(v), 4) for v in logit_irreps(logits, task).fraction]}

    cfg = fi.TrainConfig(steps=opts["steps"], lr=opts["lr"], weight_decay=0.0, eval_every=opts["eval_every"],
                         threads=1, progress=False)
    t0 = time.perf_counter()
    history = fi.train(model, task, cfg, callbacks=[shares])
    records = [{"step": r["step"], "loss": r["train_loss"], "acc": r["train_acc"], "share": r["share"]}
               for r in history.records]
    return summarise(setting, kind, seed, task.group, energy, sigma, records, "share", opts["steps"],
                     time.perf_counter() - t0)


def summarise(setting, kind, seed, group, energy, sigma, records, key, steps, seconds) -> dict:
    """One JSON line: the setting, when each irrep was learned, the order, and seed 0's curves."""
    names = [n for n in group.irrep_names[1:] if n in energy]
    total = sum(energy.values())
    dims = {n: group.irrep(n).dim for n in names}
    by_energy = sorted(names, key=lambda n: -energy[n])
    by_sigma = sorted(names, key=lambda n: -sigma[n])
    out = {"setting": setting, "kind": kind, "seed": seed, "group": group.name, "steps": steps,
           "seconds": round(seconds, 1), "energy": {n: round(energy[n] / total, 4) for n in names},
           "dim": dims, "sigma": {n: round(sigma[n], 4) for n in names},
           "predicted_order": by_energy, "predicted_order_sigma": by_sigma,
           "final_loss": records[-1]["loss"], "final": {n: records[-1][key][group.irrep_names.index(n)] for n in names}}
    if kind == "regression":
        for field, level in (("onset", ONSET), ("learned", LEARNED), ("complete", COMPLETE)):
            out[field] = {n: first_step(records, key, group.irrep_names.index(n), level) for n in names}
        learned = {n: s for n, s in out["learned"].items() if s is not None}
        out["order"] = sorted(learned, key=lambda n: (learned[n], n))
        times = [learned[n] for n in out["order"]]
        out["min_gap_ratio"] = round(min((b / a for a, b in zip(times, times[1:])), default=math.nan), 3)
        # flat across irreps if the time to learn one goes as sigma^-3 (the template enters the
        # square network's output three times: twice through the two operands, once as the target)
        out["step_x_sigma3"] = {n: round(learned[n] * sigma[n] ** 3) for n in learned}
    else:
        out["final_acc"] = records[-1]["acc"]
        out["leader"] = max(names, key=lambda n: out["final"][n])
    if seed == 0:
        out["records"] = thin(records)
    return out


def thin(records: list[dict], keep: int = 120) -> list[dict]:
    """About ``keep`` of the records (always the first and the last), for the data file and figure."""
    stride = max(1, len(records) // keep)
    return records[::stride] + ([records[-1]] if (len(records) - 1) % stride else [])


# ------------------------------------------------------------------ outputs
def draw(results: list[dict], path: Path) -> None:
    """Per-irrep share explained vs step (top) and the loss (bottom), one column per setting, seed 0."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    panels = [r for r in results if r["kind"] == "regression" and r["seed"] == 0]
    panels += [r for r in results if r["kind"] != "regression" and r["seed"] == 0]
    fig, axes = plt.subplots(2, len(panels), figsize=(2.9 * len(panels), 4.6), sharex="col",
                             gridspec_kw={"height_ratios": [2, 1]})
    for col, res in enumerate(panels):
        group = fi.groups.from_spec(SETTINGS[res["setting"]][0])
        key = "r2" if res["kind"] == "regression" else "share"
        steps = [r["step"] for r in res["records"]]
        for n in res["predicted_order"]:
            i = group.irrep_names.index(n)
            axes[0, col].plot(steps, [r[key][i] for r in res["records"]], lw=1.4,
                              label=f"{n} ({res['energy'][n]:.2f})")
        axes[0, col].set_title(f"{res['setting']}, {res['kind'].replace('_', ' ')}", fontsize=9)
        axes[0, col].legend(fontsize=6, loc="best", title="irrep (energy)", title_fontsize=6)
        axes[0, col].set_ylim(-0.05, 1.05)
        axes[1, col].semilogy(steps, [max(r["loss"], 1e-8) for r in res["records"]], color="k", lw=1.2)
        axes[1, col].set_xlabel("step", fontsize=8)
        for ax in axes[:, col]:
            ax.tick_params(labelsize=7)
    axes[0, 0].set_ylabel("share explained", fontsize=8)
    axes[1, 0].set_ylabel("train loss", fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=80)
    plt.close(fig)


def table(results: list[dict]) -> str:
    """Markdown table of the regression runs: learned step per irrep (strongest first) and the order."""
    lines = ["| setting | seed | learned step per irrep (energy share), most energy first | order learned "
             "| energy order | sigma order | gap ratio | step x sigma^3 | final loss |",
             "| --- | --- | --- | --- | --- | --- | --- | --- | --- |"]
    for r in results:
        if r["kind"] != "regression":
            continue
        cells = ", ".join(f"{n} ({r['energy'][n]:.2f}): {r['learned'][n] if r['learned'][n] is not None else '-'}"
                          for n in r["predicted_order"])
        yes = {True: "yes", False: "no"} if len(set(r["energy"].values())) > 1 else {True: "tie", False: "tie"}
        lines.append(f"| {r['setting']} | {r['seed']} | {cells} | {' > '.join(r['order'])} "
                     f"| {yes[r['order'] == r['predicted_order']]} | {yes[r['order'] == r['predicted_order_sigma']]} "
                     f"| {r['min_gap_ratio']} | {min(r['step_x_sigma3'].values())}-{max(r['step_x_sigma3'].values())} "
                     f"| {r['final_loss']:.2g} |")
    return "\n".join(lines)


def main(argv: Optional[list[str]] = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("command", choices=("run", "table"))
    parser.add_argument("--out", default="docs/reproductions")
    args = parser.parse_args(argv)
    out = Path(args.out)
    data = out / "learning-order.jsonl"
    if args.command == "run":
        torch.set_num_threads(1)
        out.mkdir(parents=True, exist_ok=True)
        results = []
        for setting in SETTINGS:
            for seed in SEEDS:
                results.append(run_regression(setting, seed))
                print(setting, seed, results[-1].get("order"), results[-1]["learned"], results[-1]["seconds"], "s",
                      flush=True)
        for seed in SEEDS:
            results.append(run_cross_entropy("Z11-A", seed))
            results.append(run_one_hot("Z11-flat", seed))
            for r in results[-2:]:
                print(r["setting"], r["kind"], seed, r["final"], r["final_acc"], flush=True)
        data.write_text("".join(json.dumps(r) + "\n" for r in results))
        draw(results, out / "learning-order.png")
    results = [json.loads(line) for line in data.read_text().splitlines()]
    print(table(results))


if __name__ == "__main__":
    main()
