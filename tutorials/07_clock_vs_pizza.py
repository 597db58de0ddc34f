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
# # 07 · Clock or pizza? Two algorithms from the same Fourier features (Zhong et al.)
#
# Every notebook so far found the same ingredients: a few key frequencies in the embedding,
# hidden units that each work at one frequency, logits made of `cos(w(a+b−c))` terms. Zhong,
# Liu, Tegmark & Andreas, *The Clock and the Pizza: Two Stories in Mechanistic Explanation of
# Neural Networks* (NeurIPS 2023), showed that these ingredients do not pin down the
# algorithm. Networks on `a + b mod p` build at least two different ones from them.
#
# Fix one key frequency `w = 2πf/p` and embed each number as a point on a circle,
# `E(a) = (cos wa, sin wa)`.
#
# * **The clock** (Nanda et al.'s Fourier Multiplication). Treat `E(a)` and `E(b)` as rotations
#   and compose them: the angle-addition identities
#   `cos(w(a+b)) = cos wa cos wb − sin wa sin wb` (and the same for `sin`) need a
#   **multiplication** of the two operands' features. The logit of answer `c` is
#   `cos(w(a+b−c))`: its size does not depend on `a − b`.
# * **The pizza**. Just **add** the two embeddings:
#   `E(a) + E(b) = 2 cos(w(a−b)/2) · (cos w(a+b)/2, sin w(a+b)/2)`. The sum points at angle
#   `w(a+b)/2` — which already determines the answer — but its **length** is
#   `2|cos(w(a−b)/2)|`, which depends on `a − b`. A nonlinearity then reads off which "slice"
#   of the circle the sum points into. The logit comes out as
#   `|cos(w(a−b)/2)| · cos(w(a+b−c))`: right answer on top, but with a size that follows
#   `a − b`.
#
# Which one a transformer learns depends on its attention. Zhong et al.'s Model A (softmax
# attention) tends to the clock; Model B, with *constant* attention ("attention rate" 0: the
# `=` position adds up every position with the same fixed weight, so the operands are added),
# tends to the pizza. They separate the two with two measures:
#
# | measure | clock | pizza |
# | --- | --- | --- |
# | **distance irrelevance** — how little the correct logit depends on `a − b` | ~0.85 | ~0.17 |
# | **gradient symmetricity** — cosine between the correct logit's gradients with respect to the two operands' embeddings | ~0.33 | ~0.99 |
#
# This notebook loads one transformer of each kind, trained with Zhong et al.'s settings at
# `p = 59`, measures both, fits the two logit forms directly, compares with a pizza built by
# hand, and asks `fi.verify` — a verifier of Fourier Multiplication must not call a pizza a
# clock.

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
import pandas as pd
import fourier_interp as fi
from fourier_interp.analysis import plots

# %% [markdown]
# ## 1 · Two transformers that differ only in their attention
#
# The presets `zhong2023-clock` and `zhong2023-pizza` carry Zhong et al.'s settings: `p = 59`,
# one layer, `d_model` 128, 4 heads, a ReLU MLP of 512, AdamW (lr 1e-3, weight decay 2.0),
# full batch on 80% of the pairs. The only difference is `attn_coeff`: 1 for softmax
# attention, 0 for constant attention. The package ships one trained model of each; if they
# are missing (an older install), the cell trains both with early stopping — a few minutes
# each on a laptop CPU.

# %%
def load_or_train(name, preset):
    if name in fi.list_pretrained():
        return fi.load_pretrained(name)
    model, task, cfg = fi.from_preset(preset, seed=0)
    cfg.progress = False                                   # no progress bar in the notebook
    cfg.early_stop_acc, cfg.early_stop_patience = 0.99, 30  # stop 30 evaluations after grokking
    fi.train(model, task, cfg)
    return model, task


models = {"clock": load_or_train("transformer-clock-p59", "zhong2023-clock"),
          "pizza": load_or_train("transformer-pizza-p59", "zhong2023-pizza")}
for kind, (model, task) in models.items():
    print(f"{kind}: attn_coeff={model.cfg.attn_coeff}, {task}, test accuracy {fi.accuracy(model, task, 'test'):.3f}")
task = models["clock"][1]
p = task.p

# %% [markdown]
# Both solve the task. Do they share the Fourier ingredients? The key frequencies, the share
# of frequency-selective neurons and the share of the logits explained by the key
# frequencies' `cos(w(a+b−c))` terms (notebook 02's measures):

# %%
freq_reports = {kind: fi.analyze_frequencies(model, t) for kind, (model, t) in models.items()}
for kind, r in freq_reports.items():
    print(f"{kind}: key frequencies {r.key_frequencies}, {r.units.share_clustered:.0%} of neurons clustered, "
          f"logits explained {r.logits.explained(r.key_frequencies):.3f}")
    # what the next paragraph says of both
    assert 1 <= len(r.key_frequencies) <= 6 and r.units.share_clustered > 0.5
    assert r.logits.explained(r.key_frequencies) > 0.5

# %% [markdown]
# Yes: each uses a handful of frequencies, most neurons are frequency-selective, and the
# `cos(w(a+b−c))` terms explain most of the (centred) logits in both. The frequencies
# themselves differ (which ones a network settles on depends on its seed and setting, for a
# clock as for a pizza). None of these measurements can tell the two algorithms apart. What
# differs is how the operands meet.

# %% [markdown]
# ## 2 · Distance irrelevance
#
# Group the `p²` inputs by their difference `a − b` (mod `p`): each group holds the `p` inputs
# that share it and differ in their sum. Take the **correct answer's logit**, its standard
# deviation inside each group, average over the groups, and divide by its standard deviation
# over all inputs. If the logit's size does not depend on `a − b` (clock), the groups are as
# spread out as everything: close to 1. If it follows `|cos(w(a−b)/2)|` (pizza), most of its
# variation is *between* groups: close to 0.
#
# `fi.distance_irrelevance(model, task)` returns the value, the share of the correct logit's
# variance that `a − b` alone explains, and the table of the correct logit over
# `(a + b, a − b)` that `plots.correct_logit` draws.

# %%
distance = {kind: fi.distance_irrelevance(model, t) for kind, (model, t) in models.items()}
for kind, result in distance.items():
    print(f"{kind}: {result}")
print("Zhong et al.: clock ~0.85, pizza ~0.17")

# %% [markdown]
# *What to look for:* on the left, the correct logit for every input, placed by its sum (rows)
# and difference (columns); on the right, its mean and spread for each difference. In the
# clock's map the columns differ a little (`a − b` explains part of its variance, as printed
# above), but the spread *within* each column is as large as the differences between them.
# The pizza's map is made of vertical bands: whole columns (a fixed `a − b`) where the correct
# logit is higher or lower, with almost no spread inside a column.

# %%
plots.correct_logit(distance["clock"], title=f"clock: distance irrelevance {distance['clock'].value:.2f}")

# %%
plots.correct_logit(distance["pizza"], title=f"pizza: distance irrelevance {distance['pizza'].value:.2f}")

# %% [markdown]
# ## 3 · Gradient symmetricity — and why ours is exactly 1 for the pizza
#
# Zhong et al.'s second measure: for sampled inputs `(a, b)` and answers `c`, the cosine
# similarity between the gradients of logit `c` with respect to the embedding of `a` and the
# embedding of `b`. If the network only ever uses `E(a) + E(b)`, the two gradients are the
# same vector (cosine 1); the clock's multiplicative interaction treats the two operands
# differently at each input (cosine well below 1). `fi.gradient_symmetricity` samples 1,024
# inputs with random answers, as the paper does.

# %%
symmetricity = {kind: fi.gradient_symmetricity(model, t) for kind, (model, t) in models.items()}
for kind, result in symmetricity.items():
    print(f"{kind}: {result}")
print("Zhong et al.: clock ~0.33, pizza ~0.99")

# %% [markdown]
# The pizza model's value is **exactly** 1 — every sampled cosine is 1 — and the result says
# it is *forced*. Here is why. With constant attention, the `=` position's attention output is
# the sum of the three positions' value vectors, each with weight 1,
#
# ```
# attn_out(=) = (x_a + x_b + x_=) W_V W_O        x_i = token embedding + position embedding
# ```
#
# and our model reads the answer out at `=` after one layer, with no LayerNorm. So the only
# path from the two operand positions to the output goes through `x_a + x_b`: the logit is
# a function of their **sum**, and its gradients with respect to `x_a` and `x_b` are
# identical by construction, whatever the network learned. Zhong et al.'s ~0.99 comes from
# their own architecture; in ours the number carries no information about the algorithm, and
# `result.forced` says so. The softmax model's value is free to vary and lands near the
# paper's clock.

# %% [markdown]
# ## 4 · Fitting the two logit forms directly
#
# A third view, which this package adds: fit the logits themselves. For each key frequency,
# take the uncentred logits (only each input's mean over answers removed) and fit them by
# the clock form `C_f = cos(w(a+b−c))` and by the pizza form `P_f = |cos(w(a−b)/2)| · C_f`
# at once. The pizza form splits into `m_f · C_f` (its mean size times the clock form) plus
# a part `R_f` orthogonal to `C_f` — the modulation by `a − b`. `fi.logit_forms` returns the
# share of the logit variance along `C_f` and along `R_f`, and the **pizza index**
# `ρ_f = β_f m_f / α_f`: the share of the frequency's mean logit amplitude that the pizza form
# carries, 0 for a pure clock and 1 for a pure pizza.

# %%
forms = {kind: fi.logit_forms(model, t, freq_reports[kind].key_frequencies) for kind, (model, t) in models.items()}
for kind, result in forms.items():
    print(f"{kind}: pizza index {result.pizza_index:.3f}; clock forms explain {result.clock_total:.1%} of the variance")
    for f, clock_share, index in zip(result.freqs, result.clock_share, result.pizza_index_by_freq):
        print(f"    frequency {f:2d}: clock form {float(clock_share):6.1%} of the variance, pizza index {float(index):.2f}")

# %% [markdown]
# The clock's logits are almost entirely the clock form: its pizza index is near 0 (its
# weakest frequency has a larger index of its own, but carries only a small share of the
# logits, and the overall index weights each frequency by that share). The trained pizza's
# index is several times larger — yet well below 1, and the clock form still explains
# almost all of its logits' variance over answers. How does that square with its low
# distance irrelevance? The two measures ask different questions. The pizza index is the
# share of the logit *amplitude* that follows `a − b`: most of this network's amplitude does
# not (its MLP largely makes up for the shorter sums). Distance irrelevance looks only at the
# correct logit and is relative to that logit's own spread: the correct logit varies little
# from input to input, and almost all of that variation follows `a − b` (the "a − b explains"
# share of section 2). A modulation that is small next to the logits' range over answers can
# still be the whole of the correct logit's variation.

# %% [markdown]
# ## 5 · A pizza built by hand
#
# To see the measures on a known answer, `fi.planted_pizza(p, freqs)` builds a ReLU network
# that computes the pizza exactly on the given frequencies: it adds the two operands'
# `(cos, sin)` embeddings and reads the slice with ReLU units, so its logit is
# `Σ_f 2|cos(w(a−b)/2)| (|cos(w(a+b−c)/2)| − |sin(w(a+b−c)/2)|)` — peaked at the right
# answer, sized by `a − b`. `fi.planted_mlp(p, freqs)` is the clock counterpart (Li et al.'s
# power network, notebook 06). Plant both on the trained pizza's key frequencies.

# %%
planted_freqs = freq_reports["pizza"].key_frequencies
planted = {"planted clock": fi.planted_mlp(p, planted_freqs), "planted pizza": fi.planted_pizza(p, planted_freqs)}
for kind, model in planted.items():
    print(f"{kind:13s} accuracy {fi.accuracy(model, task):.3f}; {fi.distance_irrelevance(model, task)}; "
          f"pizza index {fi.logit_forms(model, task, planted_freqs).pizza_index:.3f}")

# %%
plots.correct_logit(fi.distance_irrelevance(planted["planted pizza"], task), title="planted pizza")

# %% [markdown]
# The hand-built models are the two extremes. The planted clock's correct logit is the same
# for every input (distance irrelevance 1, pizza index 0). The planted pizza's correct logit
# is a function of `a − b` alone (distance irrelevance 0, `a − b` explains all of its
# variance) and its pizza index is close to 1. The trained pizza is close to the planted one
# in distance irrelevance and much closer to the clock in its logit amplitudes (section 4).

# %% [markdown]
# ## 6 · What `fi.verify` says
#
# `fi.verify` names the algorithm from its claims, each with a key and a role. The *core*
# claims (the model solves the task, ablating its key frequencies breaks it, each unit computes
# with a few frequency blocks) are the shared Fourier ingredients, which a pizza has too. The
# *shape* claims separate them, each read from logits centred over answers: distance
# irrelevance (≥ 0.55 for a clock, ≤ 0.35 names a pizza), the share of the correct logit that
# `a − b` explains, and how much each key frequency's logit amplitude follows `a − b`. The name
# is `clock` when every claim holds, `pizza` or `mixed` when the core holds and the shape does
# not, and `non-fourier` when a core claim fails. The pizza index and the gradient symmetricity
# are reported beside them, deciding nothing.

# %%
reports = {kind: fi.verify(model, t, name=kind) for kind, (model, t) in {**models, "planted pizza": (planted["planted pizza"], task)}.items()}
for kind, report in reports.items():
    print(f"{kind:13s} {'PASS' if report.passed else 'FAIL'}   algorithm: {report.algorithm}   "
          f"failed: {[claim.key for claim in report.failed_claims]}")
# what the next paragraph says: only the clock passes; the trained pizza fails only shape claims (about a − b)
assert reports["clock"].passed and not reports["pizza"].passed and not reports["planted pizza"].passed
assert reports["pizza"].algorithm == "pizza" and reports["pizza"].failed_claims
assert {claim.role for claim in reports["pizza"].failed_claims} == {"shape"}
# ... and the hand-built pizza is a pizza too, its units at a few frequency blocks each
assert reports["planted pizza"].algorithm == "pizza" and reports["planted pizza"].blocks is not None
assert reports["pizza"].blocks == 1  # the trained pizza: one frequency per unit

# %%
print(reports["pizza"])

# %% [markdown]
# Only the clock passes. The trained pizza passes every core claim — it *is* built from
# Fourier features, removing its key frequencies breaks it, and each of its units computes with
# one frequency — and fails only the shape claims: its correct logit depends on `a − b`. The
# report names it a pizza rather than calling it a clock. The hand-built pizza fails the shape
# claims too and is named a pizza, but it shows what a hand-built network can cost: its units
# compute `|x|` of a wave, whose harmonics never stop, and with frequency 1 among its
# frequencies (as for this seed's pizza) they reach every frequency, so each unit needs its
# three strongest frequency blocks (`report.blocks`) before the rest alone stops working. A
# trained network's units are smoother: the trained pizza's each work with one.
#
# ## Summary
#
# The paper's numbers next to the ones measured above:

# %%
pd.DataFrame({
    "Zhong et al. (clock / pizza)": ["~0.85 / ~0.17", "~0.33 / ~0.99", "—", "—"],
    "here (clock / pizza)": [
        f"{distance['clock'].value:.2f} / {distance['pizza'].value:.2f}",
        f"{symmetricity['clock'].value:.2f} / {symmetricity['pizza'].value:.2f}"
        + (" (forced)" if symmetricity["pizza"].forced else ""),
        f"{forms['clock'].pizza_index:.2f} / {forms['pizza'].pizza_index:.2f}",
        f"{reports['clock'].algorithm} / {reports['pizza'].algorithm}",
    ],
}, index=["distance irrelevance", "gradient symmetricity", "pizza index", "fi.verify names it"])

# %% [markdown]
# Fourier features in both — a handful of key frequencies each (not the same ones), most
# neurons clustered on them, the same causal dependence on them — and still two algorithms. Finding Fourier features is not the end of an explanation: ask
# how the operands meet.
