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
# # 03 · Interventions: does the model *use* its key frequencies?
#
# Notebook 02 measured Fourier structure: sparse embeddings, neurons clustered by frequency,
# logits made of `cos(w(a+b−c))` terms. Those are correlations. This notebook **intervenes**:
# it swaps activations between inputs (activation patching), removes frequencies from
# activations or weights (frequency ablation), and removes neurons — and watches what
# breaks. If the model computes with its key frequencies, removing them must destroy it and
# removing the others must not.
#
# Every intervention in `fourier_interp` is a TransformerLens-style hook function, a context
# manager that removes its hooks on exit (even on an error), or a function that runs those
# and returns a table. They work on the built-in models and — last section — on your own
# PyTorch model through `fi.HookedWrapper`.

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

model, task = fi.load_pretrained("transformer-p113")
p = task.p
NEURONS = model.analysis_spec().neurons          # 'blocks.0.mlp.hook_post': [batch, pos, d_mlp]
freq_report = fi.analyze_frequencies(model, task)
key = freq_report.key_frequencies
units = freq_report.units                         # neuron -> frequency, clustered or not
print(f"key frequencies {key}; {units.share_clustered:.0%} of neurons clustered")

# %% [markdown]
# ## 1 · Activation patching
#
# Patching needs pairs of inputs that differ in one thing. `fi.corrupt_operand` shifts one
# operand by `shift` (so every answer changes); we take 1,000 random pairs `(a, b)` as the
# clean inputs and `(a+1, b)` as the corrupted ones. Patching runs the *corrupted* inputs but
# copies one activation from the *clean* run: if the output goes back to the clean answer,
# that activation carries the information that was changed.
#
# The transformer reads `[a, b, =]` and answers at the `=` position. Before the attention
# layer, only position 0 knows `a`, so patching the residual stream there restores
# everything, and positions 1 and 2 restore nothing:

# %%
rows = torch.randperm(task.n, generator=torch.Generator().manual_seed(0))[:1000]
clean, corrupted = fi.corrupt_operand(task, task.inputs[rows], operand=0, shift=1)
answers = clean.sum(1) % p
print("clean", clean[:3].tolist(), " corrupted", corrupted[:3].tolist())

for pos in range(3):
    logits = fi.patch_activation(model, clean, corrupted, "blocks.0.hook_resid_pre", index=pos)
    print(f"patch resid_pre at position {pos}: accuracy on the clean answers {(logits.argmax(-1) == answers).float().mean():.3f}")

# %% [markdown]
# ### Sweeps
#
# `fi.patch_positions_layers` runs TransformerLens's own patching sweeps over every
# (layer, position) — and head, for `"head_out"` — and scores four metrics per example:
# `loss` and `accuracy` against the clean answer, the clean answer's `logit`, and
# `logit_diff` (clean answer's logit minus the corrupted answer's). `recovered(metric)` is the
# share of the clean–corrupted gap a patch restores (1 = all of it).
#
# *What to look for:* after attention, the information has moved to the `=` position; each
# head's output there restores part of the gap.

# %%
resid = fi.patch_positions_layers(model, task, clean, corrupted, "resid_pre")
print(resid)
print("recovered logit diff per position:", resid.recovered("logit_diff").numpy().round(3))

# %%
heads = fi.patch_positions_layers(model, task, clean, corrupted, "head_out")
grid = torch.zeros(task.k + 1, model.cfg.n_heads)
for cell, value in zip(heads.cells, heads.recovered("logit_diff")):
    grid[cell["pos"], cell["head"]] = value

fig, ax = plt.subplots(figsize=(5, 3))
image = ax.imshow(grid.numpy(), cmap="RdBu", vmin=-1, vmax=1)
ax.set_xticks(range(model.cfg.n_heads)); ax.set_yticks(range(task.k + 1), labels=["a", "b", "="])
ax.set_xlabel("head"); ax.set_ylabel("position"); ax.set_title("recovered logit diff, patching hook_z")
fig.colorbar(image, ax=ax);

# %% [markdown]
# The same sweep straight from `transformer_lens.patching` — the models follow
# TransformerLens's hook names and shapes, so its functions run unchanged on
# `model.to_tokens(...)` (the `[batch, k+1]` sequences ending in `=`) with a metric of your
# own:

# %%
from transformer_lens import patching

clean_tokens, corrupted_tokens = model.to_tokens(clean), model.to_tokens(corrupted)
_, clean_cache = model.run_with_cache(clean_tokens)
wrong = corrupted.sum(1) % p

def logit_diff(logits):                       # logits: [batch, p], read at '='
    return (logits.gather(1, answers[:, None]) - logits.gather(1, wrong[:, None])).mean()

patching.get_act_patch_resid_pre(model, corrupted_tokens, clean_cache, logit_diff)   # [layer, pos]

# %% [markdown]
# ### Patching neurons and frequency subspaces
#
# Patching can also target groups of neurons — here each frequency's cluster of MLP neurons
# (`fi.patch_units` with `clusters=`) — or **subspaces**: `fi.patch_frequencies` patches, in
# the residual stream after the MLP at `=`, only the directions that the unembedding `W_U`
# reads as frequency `f` (`Subspace.frequency(W_U, f, token_dim=1)`), one frequency at a
# time and then all key frequencies together.
#
# *What to look for:* the key-frequency clusters (and subspaces) share the recovery between
# them, and all key frequencies together restore essentially all of it — a 2·(number of key
# frequencies)-dimensional subspace of the residual stream carries the answer.

# %%
clusters = {f: torch.nonzero(units.clustered & (units.freq == f)).flatten().tolist() for f in key}
by_cluster = fi.patch_units(model, task, clean, corrupted, NEURONS, clusters=clusters)
for cell, value in zip(by_cluster.cells, by_cluster.recovered("logit_diff")):
    print(f"neurons of frequency {cell['cluster']:>3} ({cell['n_units']:3d} units): recovered {float(value):.2f}")

# %% [markdown]
# Patching only measures what the corruption changed. Shifting `a` by 1 turns frequency `f`'s
# angle `w(a+b)` by `2πf/p`: a low frequency barely moves, so its neurons have little to
# restore under this corruption, however much the model relies on them. (Try `shift=p // 4`.)

# %%
by_freq = fi.patch_frequencies(model, task, clean, corrupted, "blocks.0.hook_resid_post", key,
                               model.W_U, token_dim=1, where=-1)
for cell, value in zip(by_freq.cells, by_freq.recovered("logit_diff")):
    print(f"residual subspace of frequency {str(cell['freq']):>3} (dim {cell['rank']:2d}): recovered {float(value):.3f}")

# %% [markdown]
# ## 2 · Frequency ablation
#
# Any activation computed on the full grid `task.inputs` (`[p², ...]`) is, for each neuron, a
# function of `(a, b)`; frequency ablation projects out of it every 2-D Fourier component in
# which `a` or `b` has one of the given frequencies (`subspace="operands"`, the default), or
# only the `cos/sin(w(a+b))` directions (`subspace="sum"`). `fi.frequency_ablation_hook`
# returns the hook function for `run_with_hooks`:

# %%
hook = fi.frequency_ablation_hook(task, key)
logits = model.run_with_hooks(task.inputs, fwd_hooks=[(NEURONS, hook)])
print("accuracy with the key frequencies removed from the neurons:", f"{(logits.argmax(-1) == task.labels).float().mean():.3f}",
      f"(chance {1 / p:.3f})")

# %% [markdown]
# `fi.ablate_frequencies` is the same as a context manager. One key frequency at a time:
# losing one costs some accuracy — the remaining ones still make the right answer peak for
# most inputs — while removing a non-key frequency changes nothing. Removing only the
# `cos/sin(w(a+b))` directions of all key frequencies (`subspace="sum"`) does about as much
# damage as removing everything at those frequencies: the neurons pass the answer on through
# exactly those components.

# %%
non_key = [f for f in range(1, (p - 1) // 2 + 1) if f not in key]
for f in key + non_key[:3]:
    with fi.ablate_frequencies(model, task, NEURONS, [f]):
        print(f"remove frequency {f:2d}{' (key)' if f in key else '      '}: accuracy {fi.accuracy(model, task):.3f}")
with fi.ablate_frequencies(model, task, NEURONS, key, subspace="sum"):
    print(f"remove cos/sin(w(a+b)) of all key frequencies: accuracy {fi.accuracy(model, task):.3f}")
print(f"after the blocks (hooks gone): accuracy {fi.accuracy(model, task):.3f}")

# %% [markdown]
# In **weight space**, `fi.ablate_weight_frequencies` projects the frequencies out of
# token-indexed weights (the embedding's rows, or the unembedding's columns) for the duration
# of the block and restores them bit-exactly afterwards:

# %%
for role in ("embed", "unembed"):
    with fi.ablate_weight_frequencies(model, key, weights=role):
        print(f"key frequencies removed from the {role:7s} weights: accuracy {fi.accuracy(model, task):.3f}")

# %% [markdown]
# ### Ablation curve
#
# `fi.ablation_curve` removes the key frequencies **cumulatively**, most important first
# (importance = loss when removed alone), and for comparison as many random non-key
# frequencies. Rangamani (ICASSP 2025) reports this shape for RNNs: losing one frequency
# leaves the model largely working, losing several degrades it drastically.
#
# *What to look for:* the key curve falls towards chance as frequencies go; the control stays
# flat at 1.

# %%
curve = fi.ablation_curve(model, task, NEURONS, key)
print("removal order", curve.order, " accuracy", [round(a, 3) for a in curve.accuracy])
curve.plot()

# %% [markdown]
# ## 3 · Restricted and excluded loss (Nanda et al.'s progress measures)
#
# Instead of editing the network, edit its output: over all `p²` inputs, project each
# answer's logits onto the `cos(w(a+b))`, `sin(w(a+b))` directions of the key frequencies.
#
# * **restricted loss** keeps only those components (plus the mean of what was removed) — if
#   the algorithm is the whole story, it is as low as the full loss;
# * **excluded loss** removes them and scores the *training* inputs — it should be large,
#   since that is where the model got its answers.
#
# During training (notebook 04), excluded loss rises while the training loss stays near zero: the
# model is building the algorithm before test accuracy shows it.

# %%
full = fi.evaluate(model, task)
print(f"full loss        train {full['train_loss']:.3g}   test {full['test_loss']:.3g}")
print(f"restricted loss  (all inputs)   key {fi.restricted_loss(model, task, key):.3g}   "
      f"same number of non-key {fi.restricted_loss(model, task, non_key[:len(key)]):.3g}")
print(f"excluded loss    (train inputs) key {fi.excluded_loss(model, task, key):.3g}   "
      f"same number of non-key {fi.excluded_loss(model, task, non_key[:len(key)]):.3g}")
print(f"ln p (a uniform guess) = {torch.log(torch.tensor(float(p))):.3f}")

# %% [markdown]
# ## 4 · Neuron ablations
#
# `fi.cluster_ablation` replaces each frequency's cluster of neurons by its mean over the
# input grid (`method="mean"`; also `"zero"` and `"resample"`), one cluster at a time and all
# together. `fi.ablate_neurons` is the context-manager form for any set of units.
#
# *What to look for:* each cluster alone costs a little (the other frequencies still vote for
# the right answer); all clusters together destroy the model; the unclustered neurons can be
# removed for free.

# %%
fi.cluster_ablation(model, task, NEURONS, clusters, method="mean")

# %%
unclustered = torch.nonzero(~units.clustered).flatten().tolist()
with fi.ablate_neurons(model, NEURONS, unclustered, "mean"):
    print(f"{len(unclustered)} unclustered neurons mean-ablated: accuracy {fi.accuracy(model, task):.3f}")

# %% [markdown]
# ## 5 · Your own PyTorch model
#
# None of this needs the built-in models. `fi.HookedWrapper(module)` turns any `nn.Module`
# into a TransformerLens `HookedRootModule` **without editing its code**: the output of every
# submodule goes through a `HookPoint` named by its attribute path (`"embed_a"`, `"act"`, ...),
# so caching, hooks, patching, ablations and `fi.verify` all work on it.
#
# Here is a plain PyTorch network on `a + b mod 23` — Gromov's quadratic MLP (Li et al.'s
# power network with `k = 2`): embed each operand, add, square, read out. Its width
# `4(p−1)` is the one for which Li et al. prove that the max-margin solution uses every
# frequency. The square is a small submodule only to give its output a readable name (`act`):
# the wrapper traces `forward`, so an operation written inline gets a hook point too, named by
# the operation (the sum of the two embeddings is `add`, the product inside `act` is `act.mul`).

# %%
from torch import nn

class Square(nn.Module):
    def forward(self, x):
        return x * x

class QuadraticMLP(nn.Module):
    def __init__(self, p, width):
        super().__init__()
        self.embed_a = nn.Embedding(p, width)
        self.embed_b = nn.Embedding(p, width)
        for embed in (self.embed_a, self.embed_b):
            nn.init.normal_(embed.weight, std=p ** -0.5)
        self.act = Square()
        self.unembed = nn.Linear(width, p, bias=False)

    def forward(self, x):                                  # x: [batch, 2] operands
        return self.unembed(self.act(self.embed_a(x[:, 0]) + self.embed_b(x[:, 1])))


# %% [markdown]
# A plain training loop: full batch on 80% of the pairs, AdamW with weight decay (weight
# decay is what drives grokking). About 3,000 steps; a few seconds.

# %%
small_task = fi.ModularArithmetic(p=23, frac_train=0.8, seed=0)
torch.manual_seed(0)
net = QuadraticMLP(p=23, width=4 * (23 - 1))
optimizer = torch.optim.AdamW(net.parameters(), lr=3e-3, weight_decay=1.0, betas=(0.9, 0.98))
x, y = small_task.inputs[small_task.train_idx], small_task.labels[small_task.train_idx]
for step in range(3000):
    loss = nn.functional.cross_entropy(net(x).double(), y)   # float64: the loss gets tiny
    optimizer.zero_grad()
    loss.backward()
    optimizer.step()

with torch.no_grad():
    test_acc = (net(small_task.inputs).argmax(-1) == small_task.labels)[small_task.test_idx].float().mean()
print(f"train loss {loss.item():.2e}, test accuracy {test_acc:.3f}")

# %% [markdown]
# Wrap it. The wrapper returns exactly what the module returns; the cache holds every
# submodule's output under its path.

# %%
wrapped = fi.HookedWrapper(net, p=23, k=2)
logits, cache = wrapped.run_with_cache(small_task.inputs)
print("same logits as net(x):", torch.equal(logits, net(small_task.inputs)))
assert {"add", "act.mul", "act"} <= set(cache.keys())  # inline operations are hooked too (see above)
{name: tuple(act.shape) for name, act in cache.items()}

# %% [markdown]
# Patching by path name: corrupt `b`; patching `embed_b` (the corrupted operand's embedding)
# restores the clean answers, patching `embed_a` does not. Frequency ablation works the same
# way on the hidden units `"act"` — and since this network spreads the answer over all eleven
# frequencies, removing three of them leaves the other eight to carry it.

# %%
clean_s, corrupted_s = fi.corrupt_operand(small_task, operand=1, shift=3)
for name in ("embed_a", "embed_b"):
    patched = fi.patch_activation(wrapped, clean_s, corrupted_s, name)
    print(f"patch {name}: accuracy on the clean answers {(patched.argmax(-1) == small_task.labels).float().mean():.3f}")

with fi.ablate_frequencies(wrapped, small_task, "act", [1, 2, 3]):
    print("frequencies 1-3 removed from the hidden units: accuracy", f"{fi.accuracy(wrapped, small_task):.3f}")

# %% [markdown]
# Finally, verification. A custom model has no `analysis_spec()`, so name its hidden units
# (`hook="act"`) and, for the embedding claim, give its token embedding (`[p, d]`; here
# both operands' tables side by side).
#
# Expect a pass with a *dense* key-frequency set: a wide power MLP uses every frequency, one
# per neuron (Li et al.), so "ablating other frequencies" has nothing to ablate (`n/a`), and
# what makes this Fourier Multiplication rather than a lookup table is that the units are
# frequency-selective (compare the lookup-table control in notebook 01).

# %%
embedding = torch.cat([net.embed_a.weight, net.embed_b.weight], dim=1).detach()
own_report = fi.verify(wrapped, small_task, hook="act", embed=embedding)
print(own_report)
