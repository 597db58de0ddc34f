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
# # 02 · The Fourier basis and key frequencies
#
# Notebook 01 ran `fi.verify` end to end. This one opens up the measurements behind it, one
# at a time, on the shipped `a + b mod 113` transformer — following Nanda, Chan, Lieberum,
# Smith & Steinhardt, *Progress measures for grokking via mechanistic interpretability*
# (ICLR 2023), who found that such a transformer computes the answer with the **Fourier
# Multiplication algorithm**:
#
# 1. embed `a` and `b` as `cos(w a), sin(w a)` at a few key frequencies `w = 2πf/p`;
# 2. multiply (attention + ReLU) to get `cos(w(a+b))` and `sin(w(a+b))`;
# 3. read out `logit(c) ≈ Σ_w α_w cos(w(a+b−c))`, which peaks at `c = a+b mod p`.
#
# Each section measures one link of that chain:
#
# | section | question | tool |
# | --- | --- | --- |
# | 1 | what is a frequency on Z_p? | `fi.fourier_basis` |
# | 2 | does the embedding use only a few frequencies? | `fi.frequency_norms`, `plots.frequency_norms` |
# | 3 | do three independent methods find the same frequencies? | `fi.analyze_frequencies` |
# | 4 | does each neuron work at one frequency? | `fi.unit_frequencies`, `plots.unit_spectrum` |
# | 5 | are the logits `Σ cos(w(a+b−c))`? | `fi.answer_directions` |
# | 6 | what can a linear readout recover? | `fi.LinearProbe`, `fi.FourierProbe` |
# | 7 | is the embedding low rank? | `fi.analysis.low_rank` |

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
import matplotlib.pyplot as plt
import fourier_interp as fi
from fourier_interp.analysis import plots

model, task = fi.load_pretrained("transformer-p113")
p = task.p
n_freq = (p - 1) // 2        # frequencies f = 1 .. (p-1)/2
W_E = model.W_E[:p].detach()  # [p, d_model]: one row per number (the last row of W_E is '=')
print(task, " ", W_E.shape)

# %% [markdown]
# ## 1 · The real Fourier basis of Z_p
#
# A function on `Z_p = {0, ..., p−1}` is a vector of length `p`. The real Fourier basis is an
# orthonormal basis of such vectors: the constant `1/√p`, then for each frequency
# `f = 1 .. (p−1)/2` the pair `cos(2πfx/p)`, `sin(2πfx/p)` (each normalised). Frequency `f`
# **owns the pair**: any shifted wave `cos(2πfx/p + φ)` is a combination of those two rows,
# so "how much of frequency `f` is in a vector" is the energy in its cos and sin coefficients
# together, whatever the phase.
#
# `fi.fourier_basis(p)` returns the basis as a `[p, p]` tensor (one function per row) and the
# row names.

# %%
basis, names = fi.fourier_basis(p)
print(names[:7], "...", names[-2:])
print("orthonormal:", torch.allclose(basis @ basis.T, torch.eye(p), atol=1e-5))

fig, ax = plt.subplots(figsize=(9, 3))
for row in [0, 1, 2, 9, 10]:
    ax.plot(basis[row].numpy(), label=names[row])
ax.set_xlabel("x in Z_p")
ax.legend(ncol=5, fontsize=8)
ax.set_title("rows of the Fourier basis");

# %% [markdown]
# A phase-shifted wave at frequency 5 lives entirely in frequency 5's pair: transforming it
# (`fi.fourier_transform` multiplies by the basis) and summing the squared coefficients per
# frequency (`fi.frequency_energy`, index 0 = the constant) puts all its energy at index 5.

# %%
x = torch.arange(p)
wave = torch.cos(2 * torch.pi * 5 * x / p + 0.7)
energy = fi.frequency_energy(wave, dim=0)
print("coefficients on cos 5, sin 5:", fi.fourier_transform(wave, dims=0)[[9, 10]])
print("frequency with the energy:", int(energy.argmax()), f"({float(energy.max() / energy.sum()):.4f} of it)")

# %% [markdown]
# ## 2 · The embedding is sparse in the Fourier basis
#
# Apply the transform along the token axis of the embedding `W_E [p, d_model]`: for each
# frequency, the norm of its cos and sin rows (`fi.frequency_norms`). A network that has not
# learned anything spreads energy over every frequency; Nanda et al. found that after
# grokking, **a handful of key frequencies hold almost all of it** — the network only needs
# `cos(wa), sin(wa)` for those.

# %%
norms = fi.frequency_norms(W_E, dim=0)                  # [n_freq]: frequency f at index f-1
top = (norms.argsort(descending=True)[:8] + 1).tolist()
print("largest Fourier norms of W_E at frequencies", top)
print("share of the non-constant energy in the top 8:", f"{float((norms**2).sort(descending=True).values[:8].sum() / (norms**2).sum()):.3f}")

# %% [markdown]
# `fi.analyze_frequencies` (next section) computes these spectra for the embedding and the
# unembedding `W_U` (over the answer axis), with a **Gini coefficient** of the norms as a
# sparsity score (0 = all frequencies equal, near 1 = one frequency holds everything; Nanda et
# al. track it as a progress measure). `plots.frequency_norms` draws them, the key
# frequencies in red.
#
# *What to look for:* a few tall bars, everything else near zero — in both matrices, at the
# same frequencies.

# %%
freq_report = fi.analyze_frequencies(model, task)
plots.frequency_norms(list(freq_report.weights.values()), highlight=freq_report.key_frequencies)

# %% [markdown]
# ## 3 · Three methods, one answer
#
# `fi.analyze_frequencies` makes one pass over all `p²` inputs and finds key frequencies
# three independent ways:
#
# * **weights** — frequencies with large Fourier norms in the embedding and unembedding;
# * **units** — the frequencies the MLP neurons cluster at (section 4);
# * **logits** — the frequencies whose `cos(w(a+b−c))` terms explain the logits (section 5).
#
# Each method keeps the frequencies with at least 0.1× its top frequency's measure, and a
# rule, printed with the report, combines the three sets into the key frequencies: the
# frequencies of the clustered neurons, what the model computes with (docs/analysis.md
# explains why). Agreement of unrelated measurements is the evidence, not any single plot —
# so check whether they agree, and where they do not, look closer.

# %%
print(freq_report)
key = freq_report.key_frequencies
print("\nall three methods agree:", freq_report.agree)
for f in sorted(set().union(*freq_report.methods.values())):
    found_by = [method for method, freqs in freq_report.methods.items() if f in freqs]
    print(f"frequency {f:3d} found by {', '.join(found_by)}")

# %% [markdown]
# On this checkpoint they almost agree: the weights and the neurons find the same three
# frequencies, and the logits find all of them but the lowest, frequency 1. When the sets
# differ, look at the measures behind them. For every frequency any method found: its
# clustered neurons, its share of the embedding's Fourier energy and its share of the logit
# variance — and the logit method's cut-off.

# %%
counts, embed_share, logit_share = freq_report.units.counts, freq_report.weights["embed"].fraction, freq_report.logits.fraction
for f in sorted(set().union(*freq_report.methods.values())):
    print(f"frequency {f:3d}: {int(counts[f]):3d} clustered neurons, {float(embed_share[f - 1]):6.1%} of the embedding's energy, "
          f"{float(logit_share[f - 1]):6.1%} of the logit variance" + ("   key" if f in key else ""))
top = float(logit_share.max())
print(f"logit cut-off: {freq_report.rel_threshold} x {top:.1%} (the top frequency's share) = {freq_report.rel_threshold * top:.2%}")

# %% [markdown]
# Frequency 1 is no weak frequency in the weights or the neurons — dozens of neurons cluster
# on it and it holds a large share of the embedding's energy — but its `cos(w(a+b−c))` term
# explains a little less of the logit variance than the cut-off asks, so the logit method
# drops it by a hair. A frequency strong in the weights and neurons but weak in the logits is
# typically either one the network is still removing during clean-up (Nanda et al.'s third
# phase) or, as here, a minor one near a method's cut-off; the interventions of notebook 03
# decide whether it matters (removing frequency 1 alone there costs some accuracy).

# %% [markdown]
# ## 4 · Neurons cluster by frequency
#
# Take one MLP neuron and look at its activation on every input `(a, b)`: a `p × p` image.
# `fi.grid_activations` runs the model over `task.inputs` and returns the neurons' activations
# at the readout position, `[p², d_mlp]`; `task.to_grid` reshapes rows to `[p, p, ...]`.
#
# *What to look for:* a neuron working at frequency `f` is a smooth periodic pattern with `f`
# bumps along each axis (ReLU clips part of each wave to zero).

# %%
units = fi.unit_frequencies(model, task)     # which frequency explains each neuron
print(units)
acts = fi.grid_activations(model, task)      # [p*p, d_mlp], hook = the MLP neurons
f_top = int(units.counts[1:].argmax()) + 1    # the frequency with the most neurons (counts[0]: unclustered)
neuron = int(torch.nonzero(units.clustered & (units.freq == f_top))[0])
print(f"neuron {neuron}: frequency {int(units.freq[neuron])}, fraction {float(units.fraction[neuron]):.2f}")

fig, ax = plt.subplots(figsize=(4, 4))
ax.imshow(task.to_grid(acts[:, neuron]).numpy(), origin="lower")
ax.set_xlabel("b"); ax.set_ylabel("a"); ax.set_title(f"neuron {neuron} over the input grid");

# %% [markdown]
# Transform that image along both axes (`F A Fᵀ`): its 2-D spectrum has one entry per pair
# (frequency of `a`, frequency of `b`). Nanda et al. measure, for each neuron and frequency
# `f`, the fraction of its variance in the block `{const, cos f, sin f}²`; a neuron is
# **clustered** at `f` when that fraction is ≥ 0.85. (Here a frequency's block also credits its
# harmonics `2f`, which ReLU creates; see docs/analysis.md.)
#
# *What to look for in the spectrum:* a few bright cells — `(f, const)`, `(const, f)` and
# `(f, f)`, i.e. terms like `cos(wa)`, `cos(wb)` and `cos(wa)cos(wb)` — and dark elsewhere.
# (`log=True` colours by log energy and shows the weaker harmonics `2f` that ReLU adds.)

# %%
plots.unit_spectrum(acts, p, unit=neuron)

# %% [markdown]
# Over all neurons: most are clustered, and the clusters are exactly the key frequencies.
# Unclustered neurons are counted in the title.

# %%
plots.unit_frequencies(units)

# %% [markdown]
# ## 5 · The logits are `Σ_w α_w cos(w(a+b−c))`
#
# Step 3 of the algorithm predicts the whole logit table `L[(a, b), c]` (`[p², p]`). For each
# frequency, `fi.answer_directions(p, k, f)` is the predicted pattern `cos(w_f (a+b−c))` over
# the same table. First centre the logits, keeping only what can compute the sum:
#
# * remove each input's mean over answers — softmax ignores an offset shared by every answer;
# * then, for each answer, remove every part that depends on one operand only (subtract the
#   mean over `a`, then the mean over `b`): a term `g(a, c)` moves the answers for `a` alone,
#   whatever `b` is, so it cannot compute `a + b` (a constant bias per answer is such a term).
#
# What remains is the interaction of the two operands, which the algorithm is about. Then
# measure the fraction of its variance along each direction. The directions of different
# frequencies are orthogonal, so the fractions add up. This is exactly how
# `fi.analyze_frequencies` computes `freq_report.logits`, so the two must agree.

# %%
with torch.no_grad():
    logits = model(task.inputs).double()                       # [p*p, p]
L = logits - logits.mean(1, keepdim=True)                      # offsets shared by every answer
grid = L.reshape(p, p, p)                                      # [a, b, c]
grid = grid - grid.mean(0, keepdim=True)                       # parts that depend on (b, c) only
grid = grid - grid.mean(1, keepdim=True)                       # parts that depend on (a, c) only
L = grid.reshape(p * p, p)

fraction = torch.zeros(n_freq, dtype=torch.float64)
for f in range(1, n_freq + 1):
    D = fi.answer_directions(p, 2, f).double()                 # cos(w_f (a + b - c)), [p*p, p]
    fraction[f - 1] = (L * D).sum() ** 2 / ((D * D).sum() * (L * L).sum())

print("explained by the key frequencies:", f"{float(fraction[[f - 1 for f in key]].sum()):.3f}")
gap = float((fraction - freq_report.logits.fraction.double()).abs().max())
print(f"largest difference from the library's fractions: {gap:.1e}")

# %% [markdown]
# *What to look for:* bars only at the key frequencies, adding up to nearly all the variance.

# %%
plots.logit_frequencies(freq_report.logits, highlight=key)

# %% [markdown]
# The same decomposition for one input: the model's centred logits over all answers `c`, and
# the sum of the key frequencies' fitted `α_f cos(w_f(a+b−c))` terms (`freq_report.logits.coef`
# holds the `α_f`; all positive, i.e. each term peaks at the right answer). Their constructive
# interference at `c = a + b` is the whole trick.

# %%
a, b = 17 % p, 60 % p
row = a * p + b                                                 # first operand slowest
alpha = freq_report.logits.coef
recon = sum(float(alpha[f - 1]) * fi.answer_directions(p, 2, f)[row] for f in key)

fig, ax = plt.subplots(figsize=(9, 3))
ax.plot(L[row].numpy(), label="centred logits")
ax.plot(recon.numpy(), "--", label="key frequencies' cos terms")
ax.axvline((a + b) % p, color="gray", lw=0.8)
ax.set_xlabel("answer c"); ax.set_title(f"a={a}, b={b}: answer {(a + b) % p}"); ax.legend();

# %% [markdown]
# ## 6 · Probes: what is linearly readable where?
#
# A linear probe asks whether a quantity can be read off a layer by a linear map (fitted on a
# random 70% of the inputs, scored on the rest). The algorithm predicts that
# `cos(w(a+b))` and `sin(w(a+b))` become readable after the MLP — for the key frequencies
# only, since those are the only ones the network computes. `fi.LinearProbe.from_hook` runs
# the model over the grid and fits a ridge regression for a named target such as
# `"cos 14 sum"` (held-out R²).

# %%
non_key = [f for f in range(1, n_freq + 1) if f not in key][:3]
for f in key + non_key:
    probe = fi.LinearProbe.from_hook(model, task, "blocks.0.hook_resid_post", f"cos {f} sum")
    print(f"cos(w_{f:<2d}(a+b)) from the residual stream after the MLP: R^2 = {probe.result.test_score:+.3f}"
          + ("   (key)" if f in key else ""))

# %% [markdown]
# `fi.FourierProbe` does this for every frequency at once, for `cos/sin(w a_j)` of each
# operand and `cos/sin(w(a+b))`, and lists which are **readable** (held-out R² ≥ 0.9 for both
# cos and sin). On the MLP neurons, the readable sums should be exactly the key frequencies.

# %%
table = fi.FourierProbe.from_hook(model, task, "blocks.0.mlp.hook_post")
print(table)
table.to_dataframe().query("target == 'sum'").sort_values("cos_r2", ascending=False).head(8)

# %% [markdown]
# A caveat that comes with every probe: a layer that is an injective function of one operand
# with at least `p` dimensions makes *every* function of that operand linearly readable. A
# probe therefore says what a layer makes linearly available, not what the model uses — the
# embedding (`hook_embed`, position 0 holds `a`) is the place where this bites. Here a
# frequency whose `cos/sin(w a)` the embedding still carries, even weakly, can be read:

# %%
embed_table = fi.FourierProbe.from_hook(model, task, "hook_embed", pos=0)
print("readable from the embedding of a:", embed_table.readable("a1"))
print("key frequencies:                 ", key)

# %% [markdown]
# ## 7 · The embedding is low rank
#
# If the embedding only carries `cos(wa), sin(wa)` for a handful of key frequencies, then as
# a matrix `[p, d_model]` it has rank about `2 × (number of key frequencies)`: one singular
# direction per cos and per sin. `fi.analysis.low_rank` takes the SVD, reports the share of
# energy (`Σ s²`) per component and the significant rank (smallest `r` holding ≥ 90%), and —
# given `p` — which frequency each top singular vector along the token axis belongs to.
#
# *What to look for:* a cliff after `2 × len(key)` components, and the singular vectors
# coming in pairs at the key frequencies. (Rangamani, ICASSP 2025, makes the same measurement
# on RNN weights — see notebook 04.)

# %%
from fourier_interp.analysis import low_rank

lr = low_rank(W_E, p=p)
print(lr)
print(f"{2 * len(key)} components hold {lr.energy_at(2 * len(key)):.1%} of the energy")

fig, ax = plt.subplots(figsize=(7, 3))
ax.bar(range(1, 21), lr.energy[:20].numpy())
ax.axvline(2 * len(key) + 0.5, color="red", lw=0.8)
ax.set_xlabel("singular component"); ax.set_ylabel("share of energy"); ax.set_title("SVD of W_E");

# %% [markdown]
# ## Summary
#
# Every measurement points to the same few frequencies: the embedding's Fourier norms, the
# neuron clusters, the logit decomposition, what linear probes can read after the MLP, and
# the singular vectors of `W_E`. Measurements alone are still correlational; notebook 03
# removes these frequencies from the network and watches it break.
