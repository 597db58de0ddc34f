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
# # 08 · Probes in your own research
#
# A **linear probe** asks whether some quantity can be read off a layer's activations by a
# linear map. You fit the map on some inputs and score it on inputs held out of the fit: a
# high held-out score means the layer makes the quantity *linearly available* to whatever
# comes next.
#
# `fourier_interp` has two probes, and both take **plain tensors** — activations `[n, d]`
# from any code, one row per example — so you can use them on your own models without
# adopting anything else from the package:
#
# * `fi.LinearProbe` — any target: real values (ridge regression, scored by held-out R²) or
#   class labels (multinomial logistic regression, scored by held-out accuracy);
# * `fi.FourierProbe` — for modular arithmetic: every frequency's `cos` and `sin` of each
#   operand and of the sum at once, given each row's operands; a frequency is **readable**
#   when both its `cos` and its `sin` reach held-out R² ≥ 0.9.
#
# This notebook first probes a small PyTorch network defined right here, collecting its
# activations with an ordinary forward hook, as you would in your own code; then it probes
# **every hook** of the shipped transformer and shows where in the network each quantity
# becomes readable, as a table and a plot; and it ends with the controls a probe result
# needs before you trust it.

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
import math

import matplotlib.pyplot as plt
import pandas as pd
from torch import nn

import fourier_interp as fi

# %% [markdown]
# ## 1 · Your own model, your own activations
#
# Here is a network as it might appear in a research codebase: embed each operand,
# concatenate, one ReLU layer, a linear readout. Nothing in it knows about `fourier_interp`.
# We train it on `a + b mod 23` with a plain loop (full batch on 80% of the pairs, AdamW with
# weight decay, which is what makes such networks generalise; about ten seconds).

# %%
p = 23
task = fi.ModularArithmetic(p=p, frac_train=0.8, seed=0)   # only used for its inputs, labels and split


class TinyNet(nn.Module):
    def __init__(self, p, d_embed=32, d_hidden=128):
        super().__init__()
        self.embed = nn.Embedding(p, d_embed)
        self.hidden = nn.Linear(2 * d_embed, d_hidden)
        self.act = nn.ReLU()
        self.out = nn.Linear(d_hidden, p)

    def forward(self, x):                                  # x: [batch, 2] operands
        return self.out(self.act(self.hidden(self.embed(x).flatten(1))))


torch.manual_seed(0)
net = TinyNet(p)
optimizer = torch.optim.AdamW(net.parameters(), lr=3e-3, weight_decay=1.0, betas=(0.9, 0.98))
x_train, y_train = task.inputs[task.train_idx], task.labels[task.train_idx]
for step in range(3000):
    loss = nn.functional.cross_entropy(net(x_train).double(), y_train)   # float64: the loss gets tiny
    optimizer.zero_grad()
    loss.backward()
    optimizer.step()
with torch.no_grad():
    test_acc = (net(task.inputs).argmax(-1) == task.labels)[task.test_idx].float().mean()
print(f"train loss {loss.item():.1e}, test accuracy {test_acc:.3f}")

# %% [markdown]
# Collect activations the usual PyTorch way — a forward hook on each module of interest —
# on all `p² = 529` input pairs. The probes only need a `[n, d]` tensor per layer, and, for the
# Fourier probe, each row's operands `[n, 2]`.

# %%
captured = {}
handles = [module.register_forward_hook(lambda mod, inp, out, name=name: captured.__setitem__(name, out.detach()))
           for name, module in [("embed", net.embed), ("hidden", net.hidden), ("act", net.act), ("out", net.out)]]
try:
    with torch.no_grad():
        net(task.inputs)
finally:
    for handle in handles:
        handle.remove()                                    # never leave hooks attached
acts = {name: out.flatten(1) for name, out in captured.items()}   # embed: [n, 2, 32] -> [n, 64]
inputs = task.inputs                                       # [n, 2] operands of each row
{name: tuple(a.shape) for name, a in acts.items()}

# %% [markdown]
# ### LinearProbe: one target at a time
#
# `LinearProbe().evaluate(x, y)` fits on a random 70% of the rows and scores the other 30%.
# A float target is a regression (R²), an integer target a classification (accuracy). Two
# questions about the hidden layer after the ReLU: is `cos(2π·3·(a+b)/p)` — one of the
# algorithm's intermediate quantities — linearly readable, and is the answer itself?

# %%
answer = (inputs[:, 0] + inputs[:, 1]) % p
cos_sum = torch.cos(2 * math.pi * 3 * answer.double() / p)
print("cos(w_3 (a+b)) from 'act':", fi.LinearProbe().evaluate(acts["act"], cos_sum))
print("the answer from 'act':    ", fi.LinearProbe().evaluate(acts["act"], answer))
print("the answer from 'embed':  ", fi.LinearProbe().evaluate(acts["embed"], answer))

# %% [markdown]
# After the ReLU the answer can be read off linearly (on rows the probe never saw); from
# the embeddings it cannot — the sum has not been computed yet. `ProbeResult` holds the
# train and held-out scores and the row counts.
#
# ### FourierProbe: every frequency at once
#
# `fi.FourierProbe(p).evaluate(acts, inputs)` fits one readout for all the targets
# `cos/sin(w_f a)`, `cos/sin(w_f b)` and `cos/sin(w_f (a+b))` of every frequency `f`, and
# returns a `ProbeTable`: one row per (frequency, target) with the held-out R² of the cos and
# the sin. `readable(target)` lists the frequencies whose cos and sin both reach 0.9.

# %%
for name in acts:
    table = fi.FourierProbe(p).evaluate(acts[name], inputs)
    print(f"{name:7s} readable   a: {table.readable('a1')}\n"
          f"{'':7s}            b: {table.readable('a2')}\n"
          f"{'':7s}        a + b: {table.readable('sum')}")

# %% [markdown]
# The embedding layer holds each operand on its own: with 32 dimensions per operand and only
# 23 values, *every* function of `a` is linearly readable from it, so every frequency of `a`
# and of `b` is — and no `a + b`, which needs both. The linear layer before the ReLU
# (`hidden`) is a linear function of the embeddings, so it can hold no more than they do.
# After the ReLU (`act`), the sums at about half of the frequencies become readable: the
# network has computed `cos/sin(w(a+b))` for the frequencies it uses, and the logits (`out`)
# keep most of them. That is the Fourier Multiplication story, seen through probes only.
#
# The table is a `pandas.DataFrame` away:

# %%
table = fi.FourierProbe(p).evaluate(acts["act"], inputs)
table.to_dataframe().query("target == 'sum'").sort_values("cos_r2", ascending=False).head(6)

# %% [markdown]
# ### Your own split, your own rows
#
# `evaluate` draws a random split. To hold out something specific — here the pairs the
# *network* never trained on — fit and score separately. And the rows need not be the full
# grid: any examples work, as long as you pass each row's operands.

# %%
probe = fi.FourierProbe(p).fit(acts["act"][task.train_idx], inputs[task.train_idx])
print("held out = the network's test pairs:", probe.score(acts["act"][task.test_idx], inputs[task.test_idx]).readable("sum"))

rows = torch.randperm(len(inputs), generator=torch.Generator().manual_seed(1))[:300]   # any subset of examples
print("on 300 random rows only:            ", fi.FourierProbe(p).evaluate(acts["act"][rows], inputs[rows]).readable("sum"))

# %% [markdown]
# ## 2 · Every hook of a model
#
# For a hooked model (ours, TransformerLens's, or your module wrapped in `fi.HookedWrapper`,
# notebook 03), the same probes run on every hook point. Take the shipped `a + b mod 113`
# transformer, which reads `[a, b, =]` and answers at `=`. First list the hooks that fire
# in a forward pass (some hook points exist but are switched off in this configuration),
# then collect all of them over the full grid in one pass with `fi.analysis.run_grid`,
# reading each at the `=` position (`pos=-1`; attention patterns at the `=` query).

# %%
model, big_task = fi.load_pretrained("transformer-p113")
_, cache = model.run_with_cache(big_task.inputs[:1])
hooks = list(cache.keys())                                 # the hooks that fire, in forward order
logits, grid_acts = fi.analysis.run_grid(model, big_task, hooks, pos=-1)
key = fi.key_frequencies(model, big_task)
print(f"{len(hooks)} hooks; key frequencies {key}")

# %% [markdown]
# One Fourier probe per hook. The table: the hook's width, which frequencies of `a`, `b`
# and `a + b` are readable, and the best held-out R² of any sum frequency (the smaller of its
# cos and sin scores).

# %%
def probe_every_hook(model_acts, task):
    tables, summary = {}, []
    for hook, x in model_acts.items():
        tables[hook] = t = fi.FourierProbe(task.p).evaluate(x, task.inputs, task.signs)
        df = t.to_dataframe()
        best_sum = df[df.target == "sum"][["cos_r2", "sin_r2"]].min(axis=1).max()
        summary.append({"hook": hook, "d": x.shape[1], "a readable": t.readable("a1"), "b readable": t.readable("a2"),
                        "a+b readable": t.readable("sum"), "best a+b R²": round(float(best_sum), 3)})
    return tables, pd.DataFrame(summary).set_index("hook")


tables, summary = probe_every_hook(grid_acts, big_task)
summary

# %% [markdown]
# *What to look for in the plot:* each row is a hook, in the order the forward pass reaches
# it; each column a frequency; the colour the held-out R² of `cos/sin(w(a+b))` at that hook
# (the smaller of the two). Dark until the MLP's ReLU, then bright exactly in the columns of
# the key frequencies (ticked) — and from there on to the logits.

# %%
def sum_r2_map(tables, task):
    n_freq = (task.p - 1) // 2
    grid = torch.zeros(len(tables), n_freq)
    for i, t in enumerate(tables.values()):
        for row in t.rows:
            if row["target"] == "sum":
                grid[i, row["freq"] - 1] = min(row["cos_r2"], row["sin_r2"])
    return grid.clamp(0, 1)


fig, ax = plt.subplots(figsize=(12, 5))
image = ax.imshow(sum_r2_map(tables, big_task).numpy(), aspect="auto", cmap="viridis", vmin=0, vmax=1)
ax.set_yticks(range(len(tables)), labels=list(tables), fontsize=8)
ax.set_xticks([f - 1 for f in key], labels=[str(f) for f in key])
ax.set_xlabel("frequency f (key frequencies ticked)")
ax.set_title("held-out R² of cos/sin(w_f (a+b)) at '=', per hook")
fig.colorbar(image, ax=ax)
fig.tight_layout();

# %% [markdown]
# Reading the table and the plot, in the order of the forward pass:
#
# * **Before attention** (`hook_embed`, `hook_resid_pre`, `q`, `k`, `v` at `=`): the `=`
#   position holds the `=` token only — the same vector for every input — so nothing about
#   `a` or `b` is readable.
# * **After attention** (`hook_z`, `hook_attn_out`, `hook_resid_mid`): information about the
#   operands has arrived, yet neither `cos(w a)` alone nor `cos(w(a+b))` is readable at the 0.9
#   level. Attention splits evenly between `a` and `b` here, so this layer mostly holds
#   the *sum of the operands' features*, `cos(w a) + cos(w b)` — a target the Fourier probe
#   does not ask about (the next cell asks). Over the full grid `cos(w(a+b))` is orthogonal
#   to every function of `a` alone plus a function of `b` alone, so its partial R² here (about
#   0.4 at the key frequencies) comes from the attention weights varying a little with the
#   operands, which mixes them multiplicatively.
# * **After the ReLU** (`mlp.hook_post`) and from there on: `cos/sin(w(a+b))` is readable at
#   exactly the key frequencies. The multiplication happens in the MLP's nonlinearity;
#   `mlp.hook_pre`, just before it, has none readable.

# %%
a, b = big_task.inputs[:, 0].double(), big_task.inputs[:, 1].double()
f = key[0]
w = 2 * math.pi * f / big_task.p
targets = {"cos(w a)": torch.cos(w * a), "cos(w a) + cos(w b)": torch.cos(w * a) + torch.cos(w * b),
           "cos(w (a+b))": torch.cos(w * (a + b))}
for hook in ("blocks.0.hook_resid_mid", "blocks.0.mlp.hook_post"):
    scores = {name: fi.LinearProbe().evaluate(grid_acts[hook], y).test_score for name, y in targets.items()}
    print(f"frequency {f}, {hook:24s} " + "   ".join(f"{name}: R²={s:.3f}" for name, s in scores.items()))

# %% [markdown]
# A probe only answers the question you ask: at `resid_mid` the symmetric sum of the
# operands' features is almost perfectly readable, while neither the single operand nor the
# sum `a + b` is. If a table of probes shows "nothing", try the quantity the mechanism
# predicts, not only the ones on the list.

# %% [markdown]
# ## 3 · Controls before you trust a probe
#
# Two things can make a probe light up without the model computing anything:
#
# 1. **Capacity.** A layer that is an injective function of one operand with at least `p`
#    dimensions makes every function of that operand readable (the `embed` layer of section
#    1 did exactly that, for all frequencies). Readability of single-operand targets in wide
#    layers says little.
# 2. **Architecture.** Some structure comes from the wiring, not from training. The control
#    is the same probes on an **untrained** model of the same architecture: whatever is
#    readable there was not learned.

# %%
untrained = fi.HookedTransformer(model.cfg)                # same configuration, fresh random weights
_, untrained_acts = fi.analysis.run_grid(untrained, big_task, hooks, pos=-1)
_, untrained_summary = probe_every_hook(untrained_acts, big_task)
pd.DataFrame({"trained: a+b readable": summary["a+b readable"], "untrained: a+b readable": untrained_summary["a+b readable"],
              "trained: best R²": summary["best a+b R²"], "untrained: best R²": untrained_summary["best a+b R²"]})

# %% [markdown]
# In the untrained transformer no sum is readable anywhere: the readable `cos/sin(w(a+b))`
# of the trained one were learned.
#
# A probe shows what a layer makes *available*, not what the model *uses*. To show use,
# intervene: remove the frequencies from the layer and watch the output break (notebook 03,
# `fi.ablate_frequencies`), or patch them in from another input (`fi.patch_frequencies`). In a
# research write-up, a probe result is strongest next to its control and its intervention.
#
# ## Summary
#
# * `fi.LinearProbe().evaluate(acts, target)` and `fi.FourierProbe(p).evaluate(acts, operands)`
#   work on any `[n, d]` tensor from any code; `fit` / `score` take your own split.
# * On a hooked model, collect every hook in one pass (`fi.analysis.run_grid`) and probe each:
#   the table and the map show where each quantity becomes readable — here, `a + b` at the
#   key frequencies, from the MLP's nonlinearity on.
# * Check what you probe for (the symmetric sum at `resid_mid`), compare with an untrained
#   model, and back a probe with an intervention.
