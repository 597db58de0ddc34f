# ---
# jupyter:
#   jupytext:
#     formats: ipynb,py:percent
#     text_representation:
#       extension: .py
#       format_name: percent
#       format_version: '1.3'
#       jupytext_version: 1.19.6
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
# ---

# %% [markdown]
# # 09 · Beyond Z_p: groups and representations
#
# Addition mod p is composition in the cyclic group Z_p, and the clock is one case of a
# general algorithm. Chughtai, Chan & Nanda (*A Toy Model of Universality*, ICML 2023) trained
# networks to compose elements of other finite groups — the permutations S_5 and S_6, the
# dihedral groups D_n, A_5 — and found the same recipe each time, with **irreducible
# representations** (irreps) in place of frequencies:
#
# * embed each element `x` as the matrices `ρ(x)` of a few irreps (for Z_p: the 2×2 rotation
#   by `w x`);
# * multiply them: `ρ(x) ρ(y) = ρ(x y)` (for Z_p: angle addition);
# * read out `tr(ρ(x) ρ(y) ρ(z)⁻¹) = χ_ρ(x y z⁻¹)`, the **character**, which is largest at
#   `z = x y` (for Z_p: `2 cos(w(a + b − c))`).
#
# They call it **group composition via representations (GCR)**. Stander et al. (2024) later
# described some of the same networks with **cosets** instead. This notebook builds groups and
# their irreps, poses composition tasks, verifies planted and trained networks, and shows what
# tells GCR from a coset circuit and from a lookup table. Everything runs in about a minute.

# %% [markdown]
# **Setup.** One CPU thread (small tensors; see notebook 06), figures inline.

# %%
# %matplotlib inline
import torch

torch.set_num_threads(1)

# %%
import fourier_interp as fi
from fourier_interp import groups
from fourier_interp.analysis import irreps as ir
from fourier_interp.analysis.cosets import unit_cosets
from fourier_interp.verification.groups import verify_group

# %% [markdown]
# ## 1. Groups and their irreps
#
# A group's elements are the indices `0..order−1`; `compose` and `inverse` work on index
# tensors. `S_4`, the 24 permutations of four points, has five irreps, named by partitions of 4:
# `(4)` is trivial, `(1,1,1,1)` the sign, `(3,1)` the 3-dimensional standard representation.

# %%
s4 = groups.symmetric(4)
print(s4, s4.element_names[:6])
for rep in s4.irreps():
    print(f"  {rep.name:10s} dim {rep.dim}  ({rep.kind} type)")

# %% [markdown]
# Each irrep is a homomorphism, `ρ(a b) = ρ(a) ρ(b)`, with orthogonal matrices; the tests check
# this for every group. The matrix entries of all irreps together, scaled by `sqrt(d/|G|)`,
# make an orthonormal basis of functions on the group (Peter–Weyl): the group's **Fourier
# basis**. For Z_p it is exactly the real Fourier basis the rest of the library uses.

# %%
rho = s4.irrep("(3,1)").matrices  # [24, 3, 3]
a, b = torch.tensor(5), torch.tensor(17)
print("rho(ab) == rho(a) rho(b):", torch.allclose(rho[s4.compose(a, b)], rho[a] @ rho[b]))
basis = s4.fourier_basis(dtype=torch.float64)
print("orthonormal:", torch.allclose(basis @ basis.T, torch.eye(24, dtype=torch.float64)))
print("Z_13's basis is fi.fourier_basis(13):",
      torch.allclose(groups.cyclic(13).fourier_basis(), fi.fourier_basis(13)[0], atol=1e-6))

# %% [markdown]
# ## 2. A planted GCR network, and the verifier
#
# `fi.planted_gcr(group, irreps)` sets a square-activation MLP's weights so that its logits
# are exactly `Σ_ρ χ_ρ(x y z⁻¹)` on the chosen irreps. `verify_group` (which `fi.verify` calls
# for group tasks) checks claims stated in irreps and names what it finds.

# %%
task = fi.GroupTask(s4, frac_train=0.7, seed=0)
planted = fi.planted_gcr(s4, ["(3,1)", "(2,1,1)"])
report = verify_group(planted, task)
print(report.algorithm, report.key_irreps)
print(report.table())

# %% [markdown]
# ## 3. A network trained on S_4
#
# A power-activation MLP (one-hot operands, `x²` units) groks S_4 in about 1,500 full-batch
# steps on 70% of the 576 pairs.

# %%
model = fi.HookedMLP(fi.MLPConfig(**task.config_fields(), form="power", d_hidden=128, seed=0))
history = fi.train(model, task, fi.TrainConfig(steps=1500, lr=3e-3, weight_decay=3.0, betas=(0.9, 0.98),
                                               eval_every=100, progress=False, threads=1))
print("test accuracy", fi.accuracy(model, task, "test"), "first >= 0.99 at step", history.grokked_step)
trained = verify_group(model, task)
print(trained)

# %% [markdown]
# It passes as GCR, with all four non-trivial irreps as key irreps. Two numbers deserve a
# look. The characters explain about 0.95 of the part of the logits that depends on the
# answer `x y` — but only about 0.83 of the centred logits depend on `x y` at all. The rest
# changes between pairs with the same product: the trained network builds
# `tr(ρ(x) ρ(y) ρ(z)ᵀ)` out of a finite sum of products, and the leftover terms of that sum
# do not go through the product. They do not help the answer, and GCR makes no claim about
# them (docs/groups.md explains the measure). The figure shows the logits' shares per irrep
# and, dashed, the answer-dependent share.

# %%
from fourier_interp.report.groups import group_figures

figs = group_figures(trained)
figs["logit_irreps"]

# %% [markdown]
# The causal test: project the key irreps out of the hidden units' activations over the grid,
# and the model collapses. One irrep at a time does almost nothing: the network spreads the
# answer over redundant irreps (`(3,1)` and `(2,1,1)` are each faithful, so either alone still
# tells every product apart), and only removing them together breaks it.

# %%
for name in s4.irrep_names[1:]:
    print(f"without {name:10s}: accuracy {ir.irrep_accuracy(model, task, 'hook_post', [name]):.3f}")
print(f"without all four  : accuracy {ir.irrep_accuracy(model, task, 'hook_post', s4.irrep_names[1:]):.3f}")

# %% [markdown]
# ## 4. Multiplication mod p is Z_p^* in disguise
#
# `a · b mod p` on the nonzero residues is the cyclic group of order `p − 1`, through the
# discrete logarithm: `a = g^i`, `b = g^j`, `a b = g^(i+j)`. So its irreps are frequencies in
# the **log basis**, and a network trained on it runs the clock there. `fi.ModularArithmetic(p,
# op="mul")` poses it; the verifier names it `clock` with its key frequencies in log
# coordinates. (The Z_p analyses refuse it, since their frequencies would be in the wrong
# basis.) Here a planted clock on frequencies 3 and 5 of Z_22:

# %%
mul = fi.ModularArithmetic(23, op="mul")
print(mul, "generator", mul.group.generator, "log of 1..6:", mul.group.log[:6].tolist())
clock = verify_group(fi.planted_gcr(mul.group, ["f3", "f5"]), mul)
print(clock.algorithm, clock.key_frequencies)
try:
    fi.analyze_frequencies(fi.planted_gcr(mul.group, ["f3"]), mul)
except fi.InvalidArgumentError as err:
    print("refused:", str(err)[:120], "...")

# %% [markdown]
# ## 5. Coset circuits, and what tells them apart
#
# Stander et al. describe units that fire when `x` is in a coset `a H` of a subgroup and `y`
# in a coset `H b`: then `x y` is in `a H b`, and enough such units vote the answer out.
# `fi.planted_coset` builds that circuit for the subgroup `H = ⟨(0 1), (2 3)⟩`. Its logits are
# a sum of characters, like GCR's — but none of its units is selective for one irrep. The
# verifier measures each unit's **invariance subgroup** on each operand (the elements `h` with
# `unit(x h, y) = unit(x, y)`) and names the model `coset`.

# %%
coset = verify_group(fi.planted_coset(s4, ["(0 1)", "(2 3)"]), task)
print(coset.algorithm, "|", coset.reason)
print({c.key: round(c.value, 3) for c in coset.claims if c.value is not None})

# %% [markdown]
# The two descriptions overlap: many of the trained network's units are constant on cosets
# too (a unit on a non-faithful irrep is constant on the cosets of its kernel; others on the
# cosets of a point stabiliser). That is why irrep-selective units name `gcr` even when they
# are coset-like, and `coset` is named only when the units are not irrep-selective. Which
# irreps a unit computes with is decided causally: every unit is replaced by its projection
# onto its own strongest irrep block (or two, or three), and the model must keep working
# while the rest alone does not (`fi.unit_projection`, the `unit_projection` claim). A lookup
# table fails that, and reads no coset either.

# %%
cos = unit_cosets(fi.grid_activations(model, task), task)
print(f"trained S_4 MLP: {cos.share_coset:.0%} of units coset-like; subgroup orders per operand:",
      dict(sorted(cos.counts().items(), key=lambda kv: -kv[1])[:4]))
lookup = verify_group(fi.memorizing_mlp(task=task), task)
print("lookup table:", lookup.algorithm, "|", lookup.reason)

# %% [markdown]
# ## 6. The report
#
# Like `fi.verify`'s, the group report exports to JSON and to one self-contained HTML page
# with the claim table and the irrep figures.

# %%
page = trained.to_html("groups_report.html")
print(len(page) // 1024, "kB written to groups_report.html")

# %% [markdown]
# ## Where next
#
# * docs/groups.md: the groups, the measures, the decision table, what the coset measure does
#   not detect.
# * docs/reproductions.md: S_4, S_5, D_n and multiplication mod p trained on several seeds,
#   with the irreps each learned (`python scripts/reproduce_groups.py`).
