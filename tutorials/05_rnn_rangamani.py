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
# # 05 · The RNN: low rank and sparse Fourier structure (Rangamani)
#
# Transformers are not the only networks that learn modular addition with Fourier features.
# Rangamani, *Low Rank and Sparse Fourier Structure in Recurrent Networks Trained on Modular
# Addition* (ICASSP 2025, arXiv 2503.22059), trains a one-layer vanilla RNN on `a + b mod 113`
# — the operands arrive one per time step — and reports:
#
# 1. the RNN also computes the answer with **Fourier Multiplication** (embed `a` and `b` as
#    `cos/sin(wa)`, `cos/sin(wb)` at a few key frequencies, combine them into `cos/sin(w(a+b))`,
#    read out `Σ_w α_w cos(w(a+b−c))`);
# 2. its **weight matrices are low rank**: the significant singular components hold 85.4% to
#    95.5% of the energy (the sum of squared singular values);
# 3. a **sparse set of frequencies** (six in the paper) is shared by the inputs, the hidden
#    states and the outputs, and the top **singular vectors align** with those frequencies;
# 4. the **final hidden states** are fitted by `cos`/`sin` at those frequencies with a relative
#    error of about 1e-3 to 1e-2;
# 5. removing **one** key frequency leaves the model largely working; removing **several**
#    degrades it drastically.
#
# This notebook checks each claim on the shipped `rnn-p113` checkpoint, in that order, and
# ends with a table of the paper's numbers next to ours. The paper does not give its hidden
# size, nonlinearity or optimiser; the settings used here are printed below (and in the
# checkpoint's `config.json`), so where a number differs from the paper's, the setting may be
# why.

# %% [markdown]
# **Setup.** `torch.set_num_threads(1)` fixes how many CPU threads torch uses. These notebooks
# do many small tensor operations, where a second thread gains little, and on a busy machine
# threads waiting on each other slow torch down many times over (a training run in notebook
# 06 took 4 s with one thread and 69 s with two on a loaded two-core machine). Raise it for
# larger models on a quiet machine. `%matplotlib inline` draws figures in the notebook,
# including the ones `fourier_interp` returns (it builds them without pyplot).

# %%
# %matplotlib inline
import torch

torch.set_num_threads(1)

# %%
import json

import matplotlib.pyplot as plt
import fourier_interp as fi
from fourier_interp.analysis import plots, weight_low_rank
from fourier_interp.pretrained import pretrained_path

model, task = fi.load_pretrained("rnn-p113")
p = task.p
n_freq = (p - 1) // 2
print(task)
print(model.cfg)
train_cfg = json.loads((pretrained_path("rnn-p113") / "config.json").read_text())["metadata"]["train_config"]
print({k: train_cfg[k] for k in ("lr", "weight_decay", "betas")}, "full batch, AdamW")
print("test accuracy:", fi.accuracy(model, task, "test"))

# %% [markdown]
# ## 1 · The model, and where the multiplication happens
#
# The RNN reads `a`, then `b`, and answers from its last hidden state:
#
# ```
# h1     = relu(W_E[a] @ W_ih + b_h)                 # after the first operand
# h2     = relu(W_E[b] @ W_ih + h1 @ W_hh + b_h)     # after the second operand
# logits = h2 @ W_out + b_out
# ```
#
# There is no attention and no product of two activations anywhere. The only nonlinearity
# that sees both operands, the ReLU of step 2, acts on a **sum** of a term that depends on `a`
# (through `h1`) and a term that depends on `b`. A ReLU is not linear, so its output contains
# products of the two — the `cos(wa) cos(wb)` and `sin(wa) sin(wb)` terms that add up to
# `cos(w(a+b))`.
#
# The hooks name every step: `layers.0.steps.{t}.hook_pre` (before the ReLU) and
# `layers.0.steps.{t}.hook_hidden` (after), each `[batch, d_hidden]`. The final hidden state
# `h2` is the model's "neurons" for the analyses:

# %%
spec = model.analysis_spec()
HIDDEN = spec.neurons                                # the final hidden state h2
print(HIDDEN, "| weight matrices:", {name: tuple(w.shape) for name, w in spec.weight_matrices.items()})

# %% [markdown]
# ## 2 · Is it Fourier Multiplication? (`fi.verify`)
#
# The verdict first, with the same claims as for the transformer in notebook 01: units
# selective to one frequency, logits made of `cos(w(a+b−c))` terms, a sparse embedding, and
# causal ablations. (`fi.verify` also reports the low rank of each weight matrix, which we
# open up in section 4.)

# %%
report = fi.verify(model, task, name="rnn-p113")
key = report.key_frequencies
print(f"verdict: {'PASS' if report.passed else 'FAIL'}, algorithm: {report.algorithm}, key frequencies {key}")
for claim in report.claims:
    if claim.counted:
        print(f"  {claim.name:58s} {claim.value:9.4g}  {claim.threshold:22s} {'pass' if claim.passed else 'FAIL'}")

# %% [markdown]
# ## 3 · One sparse set of frequencies for inputs, hidden states and outputs
#
# Three places where the frequencies can be read, independently:
#
# * **inputs** — the Fourier norms of the embedding `W_E [p, d_embed]` over the token axis;
# * **hidden states** — which frequency explains each unit of `h2` over the `(a, b)` grid
#   (the clustering of notebook 02: a unit is clustered at `f` when `f`'s block, with its
#   harmonics, holds ≥ 85% of its variance);
# * **outputs** — the Fourier norms of `W_out [d_hidden, p]` over the answer axis.
#
# *What to look for:* the same few tall bars in all three panels.

# %%
freq_report = report.frequencies
units = freq_report.units
print("inputs  (W_E):  ", freq_report.weights["embed"].frequencies())
print("hidden  (h2):   ", units.frequencies(), f"— {units.share_clustered:.0%} of the live units clustered")
print("outputs (W_out):", freq_report.weights["unembed"].frequencies())
print("clustered units per frequency:", {f: int(units.counts[f]) for f in key})

fig = plots.frequency_norms([freq_report.weights["embed"], freq_report.weights["unembed"]], highlight=key)
fig

# %%
plots.unit_frequencies(units)

# %% [markdown]
# The inputs and the outputs use the same eight frequencies, and the hidden units cluster on
# them — a sparse set, 8 of 56, as in the paper (which found six in its own run; which
# frequencies, and how many, depends on the seed). The hidden state adds one more, a small
# cluster on a frequency the weights do not use: the ReLU creates new frequencies (harmonics,
# sums and differences of the ones it is fed), and a few units end up dominated by one of
# them. Together these are the nine key frequencies `fi.verify` reported.

# %% [markdown]
# ## 4 · The weights are low rank
#
# Take the SVD of each weight matrix, `W = U S Vᵀ`. The energy of component `i` is `s_i²`
# over `Σ s²`. If a matrix only carries `cos` and `sin` of a few frequencies, it needs only
# about **two components per frequency** (a cos and a sin direction), however large it is.
#
# `weight_low_rank(model)` runs `fi.analysis.low_rank` on every matrix the model's
# `analysis_spec()` lists: `W_E`, `W_out` (transposed to `[p, d_hidden]`), `W_ih` and `W_hh`.
# It reports the *significant rank* `r` — the smallest rank holding ≥ 90% of the energy — so
# "the top `r` components hold at least 90%" is true by definition. The informative numbers
# are how small `r` is compared with the matrix, and the energy in a rank fixed in advance:
# two components (a cos and a sin) for each frequency the embedding uses.

# %%
low = weight_low_rank(model)
n_weight_freqs = len(freq_report.weights["embed"].frequencies())
r_fixed = 2 * n_weight_freqs
for name, result in low.items():
    print(f"{name:14s} {str(list(result.shape)):11s} r = {result.r:3d} of {min(result.shape):3d}   "
          f"top {r_fixed} components hold {result.energy_at(r_fixed):.1%}")
energies = [result.energy_at(r_fixed) for result in low.values()]
print(f"{n_weight_freqs} frequencies, so {r_fixed} components; "
      f"range over the four matrices: {min(energies):.1%} to {max(energies):.1%} (paper: 85.4% to 95.5%)")

# %% [markdown]
# *What to look for:* the cumulative energy climbs steeply up to the dashed line (two
# components per frequency), then flattens: the rest of each matrix (up to 256 dimensions)
# carries little.

# %%
fig, axes = plt.subplots(1, 2, figsize=(12, 3.5))
for name, result in low.items():
    n = 40
    axes[0].semilogy(range(1, n + 1), (result.singular_values[:n] / result.singular_values[0]).numpy(), "o-", ms=3, label=name)
    axes[1].plot(range(1, n + 1), result.energy[:n].cumsum(0).numpy(), "o-", ms=3, label=name)
for ax in axes:
    ax.axvline(r_fixed + 0.5, color="gray", lw=0.8, ls="--")
    ax.set_xlabel("singular component")
axes[0].set_ylabel("s_i / s_1"); axes[0].set_title("singular values")
axes[1].set_ylabel("cumulative share of energy"); axes[1].set_title("energy"); axes[1].legend(fontsize=8)
fig.tight_layout();

# %% [markdown]
# ## 5 · The singular vectors sit on the key frequencies
#
# A singular vector of `W_E` along the token axis is a function on `Z_p`; transform it and see
# where its energy is. For `W_out` the answer axis plays that role. `W_ih` and `W_hh` have no
# token axis, so `weight_low_rank` reads them through the linear path from the tokens:
# `W_E @ W_ih` (what the input drive looks like as a function of the token) and
# `W_E @ W_ih @ W_hh` (`aligned_via` names the product; biases and the ReLU are ignored).
# Each top singular vector gets the frequency holding most of its energy and that share, its
# **purity** (1 = a pure `cos/sin` pair).

# %%
for name, result in low.items():
    via = f"  (via {result.aligned_via})" if result.aligned_via else ""
    print(f"{name:14s} frequencies {result.freq.tolist()}, purity {result.purity.min():.2f} to {result.purity.max():.2f}{via}")

# %% [markdown]
# *What to look for:* each row of the heatmaps below is one singular vector's energy per
# frequency. One bright cell per row, the cells coming in pairs (cos and sin) and only in the
# columns of the key frequencies (ticked). The path through the recurrence, `W_hh`, mixes a
# few pairs of frequencies (its lowest purities printed above), but stays on the same set.

# %%
token_maps = {"W_E": spec.weight_matrices["W_E"], "W_out": spec.weight_matrices["W_out"]}
token_maps["W_E @ W_ih"] = token_maps["W_E"] @ spec.weight_matrices["layers.0.W_ih"]
token_maps["W_E @ W_ih @ W_hh"] = token_maps["W_E @ W_ih"] @ spec.weight_matrices["layers.0.W_hh"]

fig, axes = plt.subplots(1, 4, figsize=(15, 3.2), sharey=True)
for ax, (name, matrix) in zip(axes, token_maps.items()):
    u = torch.linalg.svd(matrix.double(), full_matrices=False)[0][:, :r_fixed]      # [p, r]: token-axis vectors
    energy = torch.stack([fi.frequency_energy(u[:, i], dim=0, normalize=True) for i in range(r_fixed)])
    ax.imshow(energy[:, 1:].numpy(), aspect="auto", cmap="viridis", vmin=0, vmax=1)          # drop the constant column
    ax.set_xticks([f - 1 for f in key], [str(f) for f in key], fontsize=7, rotation=90)
    ax.set_title(name, fontsize=9); ax.set_xlabel("frequency")
axes[0].set_ylabel("singular vector")
fig.tight_layout();

# %% [markdown]
# ## 6 · Fitting the final hidden state with cos and sin
#
# Rangamani fits the final hidden states with `cos` and `sin` of the key frequencies. The
# hidden state `h2(a, b)` is a vector of 256 numbers for each of the `p² = 12,769` inputs;
# a "fit with cos and sin" is a least-squares fit of every unit by a fixed set of functions of
# `(a, b)`. Which functions matters a great deal, so we try three, each with a constant, and
# report the relative error `‖h − fit‖ / ‖h‖` over the whole grid:
#
# 1. `cos/sin(w(a+b))` for each key frequency — the answer's own features, 18 functions;
# 2. every product `{1, cos wa, sin wa} × {1, cos wb, sin wb}` in which `a` or `b` is at a key
#    frequency (`fi.project_grid_frequencies(..., subspace="operands", mode="keep")`, the
#    complement of the frequency ablation of notebook 03);
# 3. the same with the key frequencies' second harmonics `2f` added, which a ReLU creates.
#
# Finally, the readout `W_out` only sees part of `h2`; fit that part, `h2 @ W_out` (the
# logits without their bias), with fit 1.

# %%
from fourier_interp.fourier import harmonics

h = fi.grid_activations(model, task, HIDDEN).double()                  # [p*p, d_hidden]
with_harmonics = sorted({g for f in key for g in harmonics(f, p, 2)})


def relative_error(x, freqs, subspace):
    """|x - fit| / |x| for a least-squares fit by a constant plus the given functions of (a, b)."""
    centred = x - x.mean(0)                                               # the constant is fitted exactly
    fit = fi.project_grid_frequencies(centred, task, freqs, "keep", subspace=subspace)
    return float((centred - fit).norm() / x.norm())


readout = h @ model.W_out.detach().double()                              # [p*p, p]: what the readout sees
fits = {
    "1. cos/sin(w(a+b)), key frequencies": relative_error(h, key, "sum"),
    "2. all key-frequency terms of a and b": relative_error(h, key, "operands"),
    "3. ... plus second harmonics": relative_error(h, with_harmonics, "operands"),
    "readout part h2 @ W_out, fit 1": relative_error(readout, key, "sum"),
}
for name, error in fits.items():
    print(f"{name:40s} relative error {error:.3f}")

# %% [markdown]
# How to read these numbers:
#
# * **Fit 1 is poor.** The hidden units are not `cos(w(a+b))` waves. A unit at frequency `f` is
#   a ReLU of `(wave in a) + (wave in b)`: it carries `cos(wa)`, `cos(wb)`, the products that
#   make `cos(w(a+b))`, and the products that make `cos(w(a−b))`, which the answer does not
#   need.
# * **Fits 2 and 3 are good but not perfect.** Allowing every term at the key frequencies
#   leaves about a fifth of the norm; adding the harmonics, about a tenth. What remains is
#   the ReLU's clipping, which spreads a little energy over many frequencies.
# * **The part that matters is close to Fourier.** Through `W_out`, the hidden state is
#   fitted by the answer's `cos/sin(w(a+b))` alone with an error of about a tenth — far
#   better than fit 1 on the whole state: the readout filters out most of what the answer
#   does not need.
#
# All our errors are above the paper's 1e-3 to 1e-2. The paper does not say which functions
# it fitted, or which nonlinearity and hidden size its RNN used; a ReLU network this size
# clips its hidden state, and no fit at a handful of frequencies is tighter than the energy
# that clipping moves elsewhere. What reproduces is the shape of the claim: the hidden state
# lives on the key frequencies, and what it passes to the output is `cos/sin(w(a+b))`.

# %% [markdown]
# ## 7 · Removing frequencies: robust to one, broken by several
#
# `fi.ablation_curve` removes the key frequencies from the final hidden state **cumulatively**,
# most important first (importance = the loss when a frequency is removed alone): after step
# `i`, the first `i` frequencies are projected out of `h2` together (every `(a, b)` term in
# which `a` or `b` has one of them, as in notebook 03). As a control it removes the same
# number of randomly chosen non-key frequencies.
#
# *What to look for:* the key curve stays near 1 for the first removals, then falls towards
# chance (`1/p`); the control curve stays flat.

# %%
curve = fi.ablation_curve(model, task, HIDDEN, key)
print("removal order:", curve.order)
print("accuracy:     ", [round(a, 3) for a in curve.accuracy])
print("control:      ", [round(a, 3) for a in curve.control_accuracy], f"(removing {curve.control_order})")
print(f"chance: {1 / p:.3f}")
with fi.ablate_frequencies(model, task, HIDDEN, with_harmonics):
    print(f"all key frequencies and their second harmonics removed: accuracy {fi.accuracy(model, task):.3f}")
curve.plot()

# %% [markdown]
# Removing any one frequency — even the most important — changes almost nothing: every other
# key frequency still makes the right answer's logit peak. The curve stays high while a few
# more go, then collapses once most of them are gone, while removing as many other
# frequencies does nothing at all. This is the paper's observation: the frequencies are
# redundant voters, each one dispensable, together indispensable.
#
# With all nine removed the accuracy is still about 0.1, not chance: the ReLU's harmonics of
# the key frequencies (`2f`) carry a little of the answer too. Removing them as well — as
# `fi.verify` does for its "ablating key frequencies" claim — brings the accuracy down to
# chance (the last line printed above).

# %% [markdown]
# ## Summary: the paper and this checkpoint
#
# | claim (Rangamani, ICASSP 2025) | paper | `rnn-p113` (above) |
# | --- | --- | --- |
# | Fourier Multiplication | yes | `fi.verify` passes, algorithm: clock |
# | energy in the significant components | 85.4% – 95.5% | printed in section 4 (two components per frequency) |
# | sparse shared frequencies | six | eight of 56 in the weights, nine in the hidden state |
# | singular vectors on the key frequencies | yes | yes, in pairs, purity printed in section 5 |
# | hidden states fitted by cos/sin | relative error ~1e-3 – 1e-2 | larger: see section 6 for which fit gives what |
# | one frequency removed | still works | still works |
# | several removed | drastic drop | collapses (to chance with the harmonics removed too) |
#
# The paper also finds the structure consistent across training runs and dataset sizes. To
# check that here, train more seeds with the `rnn` preset (`fi.from_preset("rnn", seed=1)`,
# then `fi.train`; at `p = 113` that takes tens of minutes on a CPU, minutes on a GPU) and
# rerun this notebook on each: the frequencies change from seed to seed, the structure
# should not.
