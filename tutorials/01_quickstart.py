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
# # 01 · Quickstart: is this network doing Fourier Multiplication?
#
# A one-layer transformer trained on `a + b mod 113` gets every answer right. *How* does it do
# it? Nanda et al. (ICLR 2023) reverse-engineered such a network and found the **Fourier
# Multiplication algorithm**:
#
# 1. embed each operand as `cos(w a), sin(w a)` for a few **key frequencies** `w = 2πf/p`;
# 2. multiply (attention and the ReLU MLP do this) to get `cos(w(a+b))`, `sin(w(a+b))` by the
#    angle-addition identities;
# 3. read out `logit(c) ≈ Σ_w α_w cos(w(a+b−c))`, which peaks exactly at `c = a+b mod p`.
#
# `fi.verify` turns that story into checkable **claims** — each one a measured value compared
# with a threshold, backed by measurements on the full input grid and by causal interventions.
# This notebook runs it on the shipped transformer, reads the report, and then runs it on a
# network that is 100% accurate *without* the algorithm, to see which claims catch it.

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
import fourier_interp as fi

fi.list_pretrained()

# %% [markdown]
# ## Load the shipped transformer
#
# `fi.load_pretrained` returns the model and its task. The task knows the modulus `p`, the
# number of operands `k`, the full input grid `task.inputs` (all `p**k` tuples, first operand
# slowest) and the train/test split the model was trained on (30% of the pairs, as in Nanda
# et al.).

# %%
model, task = fi.load_pretrained("transformer-p113")
p = task.p
print(task)
print(model.cfg)

# %% [markdown]
# It was trained on the training split only, so accuracy on the held-out test split is the
# real test: a network that memorised its training data would be near chance (`1/p`) there.

# %%
{split: fi.accuracy(model, task, split) for split in ("train", "test", "all")}

# %% [markdown]
# ## Verify
#
# `fi.verify(model, task)` makes **one forward pass over all `p**2` inputs**, caching the
# logits and the MLP neurons, and from that pass
#
# * finds the key frequencies three ways — in the weights (Fourier norms of the embedding and
#   unembedding), in the hidden units (which frequency explains each neuron's variance over the
#   input grid) and in the logits (which `cos(w(a+b−c))` terms explain them) — and combines
#   them into one set (the rule is printed with `report.frequencies`; docs/analysis.md);
# * intervenes: removes the key frequencies from the neurons (accuracy should collapse),
#   removes as many *other* frequencies (accuracy should stay), and projects the logits onto /
#   away from the key frequencies (Nanda et al.'s restricted and excluded losses).
#
# Printing the report gives the verdict, the claim table, then one line of detail per claim.
# If a claim fails, its detail line says what was measured and how far it fell short.

# %%
report = fi.verify(model, task)
print(report)

# %% [markdown]
# How to read the table:
#
# | claim | what it measures |
# | --- | --- |
# | solves the task | test accuracy — the grokking criterion |
# | units are frequency-selective | share of neurons whose variance over the `(a, b)` grid is ≥ 85% in one frequency's block (Nanda et al.'s clustering) — **this is what separates the algorithm from memorisation** |
# | logits are Fourier Multiplication | share of the (centred) logit variance explained by the key frequencies' `cos(w(a+b−c))` terms |
# | inputs are Fourier-sparse | share of the embedding's Fourier energy on the key frequencies |
# | ablating key / other frequencies | accuracy with the key frequencies projected out of the neurons (should fall towards chance) and with as many non-key ones removed (should not move) |
# | restricted / excluded loss | loss using only the key frequencies' `cos/sin(w(a+b))` components of the logits (≈ full loss) and with them removed (≫ full loss) |
# | attention from '=' | (info) where the readout position attends: to the two operands |
#
# The verdict and the key frequencies are plain attributes. The key frequencies depend on the
# training seed — Nanda et al.'s run found 14, 35, 41, 42, 52 — so never hard-code them.

# %%
report.passed, report.key_frequencies

# %% [markdown]
# Each `Claim` carries its measured value, its threshold, the verdict and the detail line, so
# a script can check exactly the claims it cares about:

# %%
for claim in report.claims:
    value = "-" if claim.value is None else f"{claim.value:.4g}"
    print(f"{claim.name:43s} {value:>10s}   {claim.threshold:22s} passed={claim.passed}")

# %%
report.claim("logits are Fourier Multiplication").detail

# %% [markdown]
# The evidence behind claims 2–4 is kept on the report: `report.frequencies` is the
# `FrequencyReport` with the three methods' frequency sets (notebook 02 opens it up), and
# `report.ablation` is the ablation curve behind claim 5 (notebook 03).

# %%
report.frequencies

# %% [markdown]
# ## Export: HTML and JSON
#
# `report.to_html(path)` writes one self-contained page (no internet needed to view it): the
# claim table, the embedding's Fourier norms, the histogram of neurons per frequency, the
# logit variance per frequency, the ablation curve, the training curves when a training
# history is available, and the attention patterns. `report.to_json(path)` writes the same
# numbers for scripts. (`fourier-interp verify` does all of this from the command line.)

# %%
from pathlib import Path

report.to_html("report.html")
report.to_json("report.json")
print(f"report.html: {Path('report.html').stat().st_size / 1e6:.1f} MB, report.json: {Path('report.json').stat().st_size / 1e3:.0f} kB")

# %% [markdown]
# ## A negative control: a lookup table
#
# Accuracy alone proves nothing about the algorithm. `fi.memorizing_mlp(p)` is a one-hidden-layer
# ReLU network with **one hidden unit per input pair**: unit `(a, b)` fires only for that
# pair and writes a vote for `(a + b) mod p`. It is 100% accurate — on every split, since it
# was built, not trained — and has no Fourier structure at all. A verification pipeline worth
# trusting must fail it.

# %%
lookup = fi.memorizing_mlp(p=23)
lookup_task = fi.ModularArithmetic(p=23)
fi.accuracy(lookup, lookup_task)

# %%
lookup_report = fi.verify(lookup, lookup_task)
print(lookup_report)

# %% [markdown]
# It fails, and the report says why:

# %%
for claim in lookup_report.failed_claims:
    print(f"{claim.name}:\n    {claim.detail}\n")

# %% [markdown]
# Why these claims, and why the others pass anyway:
#
# * **Units are not frequency-selective.** A unit that fires for one input pair is a spike on
#   the `(a, b)` grid, and a spike is spread evenly over *every* frequency — no frequency comes
#   near 85% of its variance. This is the claim that separates computing with frequencies from
#   looking answers up.
# * **Unit input weights are not single-frequency.** For MLPs the report also checks each
#   neuron's own input and output weights (Li et al., AISTATS 2025): a lookup unit's input
#   weights are one-hot, again spread over all frequencies.
# * **Why do the logit, embedding and ablation claims pass?** A one-hot table of answers is
#   itself a sum of *all* frequencies' `cos(w(a+b−c))` terms with equal weights, so the key
#   frequency set found from the logits is *every* frequency. Explaining the logits "with every
#   frequency", or removing every frequency, is vacuous — and the control "remove the
#   non-key frequencies" cannot even be run (`n/a`). The logits alone cannot tell memorisation
#   from Fourier Multiplication on all frequencies; the units can.
#
# Below, the 2-D Fourier spectrum of one unit of each network: its activation over the
# `(a, b)` grid, transformed along both axes, as energy per pair (frequency of `a`, frequency
# of `b`). The transformer's neuron puts nearly all its energy in three cells — frequency `f`
# of `a` alone, of `b` alone, and their product `(f, f)`; the lookup unit's energy is spread
# evenly over every pair. (`log=True` colours by log energy, to see the small terms.)

# %%
from fourier_interp.analysis import plots

units = report.frequencies.units                     # the transformer's neuron clustering
neuron = int(units.fraction.argmax())                # its most frequency-selective neuron
print(f"transformer neuron {neuron}: frequency {int(units.freq[neuron])}, "
      f"{float(units.fraction[neuron]):.0%} of its variance")
plots.unit_spectrum(fi.grid_activations(model, task), p, unit=neuron)

# %%
plots.unit_spectrum(fi.grid_activations(lookup, lookup_task), lookup_task.p, unit=100)

# %% [markdown]
# ## Where next
#
# * **02 · Fourier basis and key frequencies** — the measurements behind claims 2–4, one at a
#   time: the Fourier basis of Z_p, embedding norms, neuron clusters, logits, probes, low rank.
# * **03 · Interventions** — the causal side: activation patching, frequency and neuron
#   ablations, restricted/excluded loss, and the same tools on your own PyTorch model.
# * **04 · Train and compare families** — train a transformer, an RNN and power MLPs, watch
#   the progress measures, and compare what the families share.
