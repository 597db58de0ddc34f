"""Every family through every stage on every available device.

``cpu`` always runs, under :class:`DeviceAudit`: a GPU's device boundary simulated on the CPU,
so a tensor built on the host that meets the model's tensors fails here as it would on CUDA
(tests/device_audit.py). ``cuda`` runs the same tests on a real GPU where one is present
(marker ``gpu``). Widths are tiny and p is 11: each test takes seconds.
"""

from __future__ import annotations

import contextlib
import json

import pytest
import torch
from torch import nn

import fourier_interp as fi
from device_audit import DeviceAudit

P = 11
DEVICES = ["cpu", pytest.param("cuda", marks=[pytest.mark.gpu, pytest.mark.skipif(
    not torch.cuda.is_available(), reason="needs a CUDA device")])]
FAMILIES = ["transformer", "rnn", "mlp_power", "mlp_relu", "wrapper"]


class PlainMLP(nn.Module):
    """A user's plain module: embed, concatenate, ``torch.relu``, unembed (wrapped with ``fi.HookedWrapper``)."""

    def __init__(self, p: int = P):
        super().__init__()
        gen = torch.Generator().manual_seed(0)
        self.embed = nn.Embedding(p, 8)
        self.fc = nn.Linear(16, 24)
        self.unembed = nn.Linear(24, p)
        with torch.no_grad():
            for param in self.parameters():
                param.copy_(torch.randn(param.shape, generator=gen) * 0.3)

    def forward(self, x):
        return self.unembed(torch.relu(self.fc(self.embed(x).flatten(1))))


def build(family: str):
    """``(model, task, cfg, unit hook)`` of a tiny member of ``family`` at p = 11."""
    small = dict(p=P, steps=6, eval_every=3, progress=False, threads=1)
    if family == "transformer":
        model, task, cfg = fi.from_preset("nanda2023", d_model=16, n_heads=2, d_head=8, d_mlp=32, **small)
    elif family == "rnn":
        model, task, cfg = fi.from_preset("rnn", d_embed=8, d_hidden=16, **small)
    elif family == "mlp_power":
        model, task, cfg = fi.from_preset("li2025-k2", d_hidden=24, **small)
    elif family == "mlp_relu":
        model, task, cfg = fi.from_preset("li2025-k2", form="embed_relu", d_hidden=24, d_embed=8, **small)
    else:
        task = fi.ModularArithmetic(p=P, frac_train=0.5)
        model, cfg = fi.HookedWrapper(PlainMLP()), fi.TrainConfig(steps=6, eval_every=3, progress=False, threads=1)
        return model, task, cfg, "relu"
    return model, task, cfg, model.analysis_spec().neurons


class Case:
    """One family on one device: the model, its task, and the audit its stages run under (CPU only)."""

    def __init__(self, family: str, device: str):
        self.family, self.device = family, device
        self.audit = DeviceAudit() if device == "cpu" else None
        with self.running():
            self.model, self.task, self.cfg, self.hook = build(family)
            self.model.to(device)
            if self.audit is not None:
                self.audit.place(self.model)

    def running(self):
        return self.audit if self.audit is not None else contextlib.nullcontext()

    def check(self, model=None) -> None:
        model = model or self.model
        assert all(p.device.type == self.device for p in model.parameters())
        if self.audit is not None:
            found, self.audit.violations = self.audit.violations, []  # each test answers for its own
            assert found == [], "\n".join(found)


CASES = [pytest.param((f, d.values[0] if hasattr(d, "values") else d), id=f"{f}-{getattr(d, 'values', [d])[0]}",
                      marks=getattr(d, "marks", ())) for d in DEVICES for f in FAMILIES]


@pytest.fixture(scope="module", params=CASES)
def case(request):
    family, device = request.param
    case = Case(family, device)
    with case.running():  # trained once per module: minibatches, an evaluation callback, checkpoints
        case.history = fi.train(case.model, case.task, case.cfg)
    case.check()
    return case


# ------------------------------------------------------------------ training
def test_train_fast_path_minibatches_callbacks_and_resume(case, tmp_path):
    with case.running():
        model, task, cfg, _ = build(case.family)
        model.to(case.device)
        if case.audit is not None:
            case.audit.place(model)
        callbacks = [fi.ProgressRecorder(freqs=[1, 2])] if case.family == "transformer" else []
        cfg.batch_size, cfg.steps = 16, 3
        if case.family == "wrapper":  # fi.train saves only fi.HookedModel classes: no checkpoints to resume
            history = fi.train(model, task, cfg)
        else:
            cfg.out_dir, cfg.checkpoint_every = str(tmp_path), 3
            fi.train(model, task, cfg, callbacks=callbacks)
            cfg.steps = 6
            history = fi.train(model, task, cfg, resume=True, callbacks=callbacks)
            case.check(fi.load(tmp_path, device=case.device))
    assert [r["step"] for r in history.records][-1] == cfg.steps
    assert all(r["train_loss"] > 0 for r in history.records)
    case.check(model)


@pytest.mark.parametrize("chunk", [1, 2])
def test_train_many_keeps_every_seed_on_the_device(case, chunk):
    if case.family == "wrapper":
        pytest.skip("train_many takes built-in models (one config, many seeds)")
    with case.running():
        built = [build(case.family) for _ in range(3)]
        models = []
        for seed, (model, _, _, _) in enumerate(built):
            model.cfg.seed = seed
            models.append(model.to(case.device))
        cfg = built[0][2]
        cfg.batch_size, cfg.early_stop_acc, cfg.early_stop_patience = 16, 0.01, 1  # every seed stops at once
        sweep = fi.train_many(models, [b[1] for b in built], cfg, chunk=chunk)
    assert all(h.stopped_early and h.records[-1]["step"] == 3 for h in sweep.histories)
    for model in sweep.models:
        case.check(model)


# ------------------------------------------------------------------ analyses and probes
def test_analyses(case):
    model, task, hook = case.model, case.task, case.hook
    with case.running():
        report = fi.analyze_frequencies(model, task, hook)
        acts = fi.grid_activations(model, task, hook)
        fi.low_rank(acts, p=P, k=2)
        fi.distance_irrelevance(model, task)
        fi.logit_forms(model, task, [1, 2])
        if case.family in ("transformer", "rnn", "wrapper"):
            fi.gradient_symmetricity(model, task, hook="embed" if case.family == "wrapper" else None, n_samples=32)
        if case.family.startswith("mlp"):
            align = fi.neuron_alignment(model, task)
            assert len(align.freq) == 24
        if case.family == "mlp_power":
            assert fi.normalized_margin(model, task, balanced=True) == fi.normalized_margin(model, task, balanced=True)
        if case.family != "wrapper":
            fi.analysis.weight_low_rank(model)
    assert len(report.logits.fraction) == (P - 1) // 2 and acts.shape[0] == P * P
    case.check()


def test_probes_on_device_activations(case):
    with case.running():
        acts = fi.grid_activations(case.model, case.task, case.hook).to(case.device)
        linear = fi.LinearProbe().evaluate(acts, case.task.labels)
        fourier = fi.FourierProbe(P).evaluate(acts, case.task.inputs)
    assert 0 <= linear.test_score <= 1 and len(fourier.to_dataframe()) > 0
    case.check()


# ------------------------------------------------------------------ interventions
def test_interventions(case):
    model, task, hook = case.model, case.task, case.hook
    with case.running():
        clean, corrupted = fi.corrupt_operand(task, task.inputs[:30], operand=0, shift=3)
        patched = fi.patch_activation(model, clean, corrupted, hook)
        units = fi.patch_units(model, task, clean, corrupted, hook, units=[0, 1])
        with fi.ablate_frequencies(model, task, hook, [1]):
            ablated = fi.evaluate(model, task)
        for method in ("zero", "mean", "resample"):
            with fi.ablate_neurons(model, hook, [0, 2], method=method):
                fi.evaluate(model, task)
        fi.cluster_ablation(model, task, hook, {"a": [0, 1], "b": [2]})
        curve = fi.ablation_curve(model, task, hook, [1, 2], order="random")
        restricted, excluded = fi.restricted_loss(model, task, [1, 2]), fi.excluded_loss(model, task, [1, 2])
        if case.family == "transformer":
            fi.patch_positions_layers(model, task, clean, corrupted, "resid_pre")
            fi.attention_view(model, task.inputs[:2])
        if case.family == "rnn":
            fi.patch_steps(model, task, clean, corrupted)
        if case.family != "wrapper":
            with fi.ablate_weight_frequencies(model, [1], weights="unembed"):
                fi.accuracy(model, task)
    assert patched.shape == (30, P) and units.values.shape[1] == 2
    assert ablated["train_loss"] > 0 and restricted > 0 and excluded > 0 and len(curve.loss) == 3
    case.check()


# ------------------------------------------------------------------ verify, report, save / load
def test_verify_report_and_save_load(case, tmp_path):
    with case.running():
        hook = case.hook if case.family == "wrapper" else None
        report = fi.verify(case.model, case.task, hook=hook, history=case.history)
        page = report.to_html(tmp_path / "report.html")
        report.to_json(tmp_path / "report.json")
        case.model.save(tmp_path / "model", task=case.task, history=case.history)
        loaded = fi.load(tmp_path / "model", device=case.device)
    assert (tmp_path / "report.html").read_text().startswith("<!DOCTYPE html>") or page
    assert json.loads((tmp_path / "report.json").read_text())["passed"] is False  # a few steps learn nothing
    torch.testing.assert_close(loaded(case.task.inputs[:5]), case.model(case.task.inputs[:5]))
    case.check()
    case.check(loaded)


@pytest.mark.parametrize("device", DEVICES)
def test_verify_names_planted_algorithms_on_every_device(device, tmp_path):
    """Known answers through every claim (the untrained models above skip those with no key frequencies)."""
    audit = DeviceAudit() if device == "cpu" else None
    task = fi.ModularArithmetic(p=23)  # the known answers of fi.verify's own example
    found = {}
    with audit if audit is not None else contextlib.nullcontext():
        for name, model in (("clock", fi.planted_mlp(p=23, freqs=[3, 7])), ("pizza", fi.planted_pizza(p=23, freqs=[3, 7])),
                            ("table", fi.memorizing_mlp(23))):
            model.to(device)
            if audit is not None:
                audit.place(model)
            report = fi.verify(model, task)
            report.to_html(tmp_path / f"{name}.html")
            found[name] = (str(report.algorithm), report.passed, report.key_frequencies)
        clean, corrupted = fi.resample_operand(task, operand=1, seed=0)
        model = fi.planted_mlp(p=23, freqs=[3, 7]).to(device)
        if audit is not None:
            audit.place(model)
        freqs = fi.patch_frequencies(model, task, clean, corrupted, "hook_post", [3, 7], model.W_out, token_dim=1)
        sub = fi.patch_activation(model, clean, corrupted, "hook_post", fi.Subspace.frequency(model.W_out, 3, token_dim=1))
    assert found["clock"] == ("clock", True, [3, 7])
    assert found["pizza"][:2] == ("pizza", False) and found["table"][:2] == ("non-fourier", False)
    assert [c["freq"] for c in freqs.cells] == [3, 7, "all"] and sub.device.type == device
    if audit is not None:
        assert audit.violations == [], "\n".join(audit.violations)


def test_the_audit_sees_a_host_buffer_meet_a_model_tensor():
    """The negative control: the bug this module exists to catch is caught on a CPU."""
    model = fi.planted_mlp(p=P, freqs=[2])
    audit = DeviceAudit()
    with audit:
        audit.place(model)
        energy = torch.zeros(model.W_out.shape[0], dtype=model.W_out.dtype)  # no device=: the host
        energy.index_add_(0, torch.arange(model.W_out.shape[0]), model.W_out[:, 0])
        model.W_out.detach()[:2].numpy()
        fine = torch.zeros(3, device=model.W_out.device) + model.W_out[:3, 0]  # built where the model is
        fine = fine * torch.tensor(2.0)  # a host scalar is allowed, as on CUDA
    assert [v.split(":")[0] for v in audit.violations] == ["index_add_", "numpy"]


# ------------------------------------------------------------------ the captured step
def test_cuda_graph_and_matmul_precision_options_are_checked():
    with pytest.raises(fi.InvalidArgumentError, match="cuda_graph"):
        fi.TrainConfig(cuda_graph="yes")
    with pytest.raises(fi.InvalidArgumentError, match="matmul_precision"):
        fi.TrainConfig(matmul_precision="fast")
    model, task, cfg = fi.from_preset("li2025-k2", p=7, steps=2, progress=False, cuda_graph=True)
    with pytest.raises(fi.InvalidArgumentError, match="needs a CUDA device"):
        fi.train(model, task, cfg)


def test_on_a_cpu_the_default_step_is_the_eager_one():
    """cuda_graph=None and False run the same ops on a CPU: identical weights, bit for bit."""
    runs = []
    for graph in (None, False):
        model, task, cfg = fi.from_preset("nanda2023", p=11, d_model=16, n_heads=2, d_head=8, d_mlp=32, steps=12,
                                          eval_every=4, progress=False, threads=1, batch_size=40, cuda_graph=graph)
        history = fi.train(model, task, cfg)
        runs.append(([r["train_loss"] for r in history.records], model.state_dict()))
    assert runs[0][0] == runs[1][0]
    assert all(torch.equal(runs[0][1][k], runs[1][1][k]) for k in runs[0][1])


def test_compile_option_is_checked():
    with pytest.raises(fi.InvalidArgumentError, match="compile"):
        fi.TrainConfig(compile="fastest")
    with pytest.raises(fi.InvalidArgumentError, match="pick one"):
        fi.TrainConfig(compile=True, cuda_graph=True)
    assert fi.TrainConfig(compile="max-autotune-no-cudagraphs").compile == "max-autotune-no-cudagraphs"


def test_compiling_on_a_cpu_without_a_compiler_is_refused_before_training(monkeypatch):
    import shutil

    monkeypatch.setattr(shutil, "which", lambda name: None)
    model, task, cfg = fi.from_preset("li2025-k2", p=7, steps=2, progress=False, compile=True)
    before = {k: v.clone() for k, v in model.state_dict().items()}
    with pytest.raises(fi.InvalidArgumentError, match="C\\+\\+ compiler"):
        fi.train(model, task, cfg)
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())


def _losses_and_verdict(preset: str, device: str, steps: int, **step) -> tuple[list[float], tuple]:
    """One run of ``preset`` at p = 23 with the step options ``step``: its losses and what verify says."""
    model, task, cfg = fi.from_preset(preset, p=23, frac_train=0.8, lr=3e-3, steps=steps, eval_every=100, progress=False,
                                      threads=1, device=device, **step)
    history = fi.train(model, task, cfg)
    report = fi.verify(model, task)
    return ([r["train_loss"] for r in history.records],
            (history.grokked_step, str(report.algorithm), report.passed, report.key_frequencies))


# the step options that replace the eager step: a captured CUDA graph (CUDA only) and torch.compile;
# and the opt-in reduced-precision matmuls on CUDA (TF32, bfloat16), whose losses may move further
STEP_OPTIONS = {"graph": dict(cuda_graph=True), "compile": dict(compile=True),
                "tf32": dict(matmul_precision="high"), "bf16": dict(matmul_precision="medium")}
OPTION_RTOL = {"tf32": 0.05, "bf16": 0.1}
CUDA = [pytest.mark.gpu, pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")]
# (preset, steps, batch_size, rtol of the loss curve): the power MLP's losses stay equal to rounding for
# 600 steps; the transformer's AdamW trajectory (lr 3e-3) amplifies the first rounding difference to a
# few percent by step 100, so its curve is held to 10% after an equal first loss, and it trains to a
# verdict (it groks by step ~700) instead of stopping on a memoriser whose minor frequencies are noise
CASES = {"mlp": ("li2025-k2", 600, None, 1e-4), "mlp-minibatch": ("li2025-k2", 600, 64, 1e-4),
         "transformer": ("nanda2023", 2000, None, 0.1)}


@pytest.mark.slow
@pytest.mark.parametrize("device,option,case", [
    ("cpu", "compile", "mlp"),
    ("cpu", "compile", "transformer"),
    pytest.param("cuda", "graph", "mlp", marks=CUDA),
    pytest.param("cuda", "graph", "mlp-minibatch", marks=CUDA),
    pytest.param("cuda", "graph", "transformer", marks=CUDA),
    pytest.param("cuda", "compile", "mlp-minibatch", marks=CUDA),
    pytest.param("cuda", "compile", "transformer", marks=CUDA),
    pytest.param("cuda", "tf32", "transformer", marks=CUDA),
    pytest.param("cuda", "bf16", "mlp", marks=CUDA),
])
def test_captured_or_compiled_and_eager_steps_give_the_same_losses_and_verdicts(device, option, case):
    preset, steps, batch_size, rtol = CASES[case]
    rtol = max(rtol, OPTION_RTOL.get(option, 0.0))
    eager_losses, eager_verdict = _losses_and_verdict(preset, device, steps, batch_size=batch_size)
    losses, verdict = _losses_and_verdict(preset, device, steps, batch_size=batch_size, **STEP_OPTIONS[option])
    assert verdict == eager_verdict
    assert losses[0] == pytest.approx(eager_losses[0], rel=1e-6)
    torch.testing.assert_close(torch.tensor(losses), torch.tensor(eager_losses), rtol=rtol, atol=1e-7)


@pytest.mark.slow
@pytest.mark.parametrize("device,option", [
    ("cpu", "compile"),
    pytest.param("cuda", "graph", marks=CUDA),
    pytest.param("cuda", "compile", marks=CUDA),
])
def test_captured_or_compiled_train_many_matches_eager(device, option):
    runs = {}
    for name, step in (("eager", {}), (option, STEP_OPTIONS[option])):
        sweep = fi.train_seeds("nanda2023", seeds=[0, 1, 2], progress=False, p=13, steps=40, eval_every=10, threads=1,
                               device=device, batch_size=50, **step)
        runs[name] = [[r["train_loss"] for r in h.records] for h in sweep.histories]
    torch.testing.assert_close(torch.tensor(runs[option]), torch.tensor(runs["eager"]), rtol=1e-4, atol=1e-7)


class ReadsBack(PlainMLP):
    """A plain module whose forward reads a value back to the host (a data-dependent ``if``): no CUDA graph can hold it."""

    def forward(self, x):
        hidden = torch.relu(self.fc(self.embed(x).flatten(1)))
        if hidden.sum() < 0:  # never true; asking is the host read
            hidden = -hidden
        return self.unembed(hidden)


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_a_step_that_cannot_be_captured_runs_eagerly_by_default_and_is_refused_when_a_graph_is_required():
    task = fi.ModularArithmetic(p=P, frac_train=0.5)
    runs = {}
    for name, graph in (("eager", False), ("default", None)):
        model = fi.HookedWrapper(ReadsBack(), trace=False).to("cuda")
        cfg = fi.TrainConfig(steps=12, eval_every=4, progress=False, threads=1, cuda_graph=graph)
        with pytest.warns(RuntimeWarning, match="could not be captured") if graph is None else contextlib.nullcontext():
            runs[name] = [r["train_loss"] for r in fi.train(model, task, cfg).records]
    assert runs["default"] == pytest.approx(runs["eager"], rel=1e-5)  # the failed capture changed nothing
    model = fi.HookedWrapper(ReadsBack(), trace=False).to("cuda")
    with pytest.raises(fi.InvalidArgumentError, match="cuda_graph=True"):
        fi.train(model, task, fi.TrainConfig(steps=12, eval_every=4, progress=False, threads=1, cuda_graph=True))
    torch.testing.assert_close(model(task.inputs[:5].cuda()).sum().isfinite(), torch.tensor(True, device="cuda"))


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_resume_works_with_a_graph(tmp_path):
    model, task, cfg = fi.from_preset("li2025-k2", p=11, steps=10, eval_every=5, checkpoint_every=5, progress=False,
                                      device="cuda", out_dir=str(tmp_path))
    fi.train(model, task, cfg)
    cfg.steps = 20
    history = fi.train(model, task, cfg, resume=True)
    assert history.records[-1]["step"] == 20 and model.device.type == "cuda"


@pytest.mark.parametrize("device", DEVICES)
def test_a_phase_diagram_trains_and_verifies_on_the_device(device, tmp_path):
    """The sweep machinery end to end with ``device=`` among the settings (two seeds: on CUDA, trained together)."""
    diagram = fi.phase_diagram("li2025-k2", x=("weight_decay", [1.0]), y=("frac_train", [0.6]), seeds=[0, 1],
                               out_dir=tmp_path, workers=1, threads=1, progress=False, p=7, steps=30, eval_every=10,
                               device=device)
    assert (diagram.table["status"] == "ok").all() and diagram.table["verdict"].notna().all()
    model, _ = fi.load(tmp_path / "runs" / diagram.table["run"][0] / "train", with_task=True)
    assert model.cfg.device.startswith("cpu")  # checkpoints load on the CPU by default, wherever they trained


# ------------------------------------------------------------------ what a CUDA graph can hold
class HostReads(torch.utils._python_dispatch.TorchDispatchMode):
    """Records the operations that read a value back to the host (on CUDA: a synchronisation,
    and an error inside a CUDA graph capture): ``.item()``/``bool()``/``int()`` of a tensor,
    ``nonzero``, ``bincount``, ``unique``, ``masked_select``, ``repeat_interleave`` without a size."""

    READS = {"_local_scalar_dense", "nonzero", "bincount", "_unique", "_unique2", "unique_dim", "unique_consecutive",
             "masked_select", "repeat_interleave", "is_nonzero", "equal", "argwhere"}

    def __init__(self):
        super().__init__()
        self.reads: list[str] = []

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        if func.overloadpacket.__name__ in self.READS and not (func.overloadpacket.__name__ == "repeat_interleave"
                                                                and (kwargs or {}).get("output_size") is not None):
            self.reads.append(str(func))
        return func(*args, **(kwargs or {}))


def _step_reads(runs, rows) -> list[str]:
    """The host reads of one training step's forward and backward (the part a CUDA graph captures)."""
    with HostReads() as mode:
        runs.loss_backward(rows)
    return mode.reads


@pytest.mark.parametrize("family", FAMILIES)
def test_the_training_step_reads_nothing_back_to_the_host(family, monkeypatch):
    """On CUDA the whole step is captured as one graph, which holds no host read; run here on the CPU
    with the transformer on the dense readout that a GPU takes, full batch and minibatch, one model
    and stacked seeds (vmap)."""
    from fourier_interp.models.transformer import layers
    from fourier_interp.seeds import StackedModels
    from fourier_interp.training.single import OneModel

    monkeypatch.setattr(layers, "TABLE_READOUT_DEVICES", ())  # what runs on a GPU
    model, task, cfg, _ = build(family)
    one = OneModel(model, task, cfg)
    minibatch = torch.randperm(len(task.train_idx), generator=torch.Generator().manual_seed(0))[None, :16]
    assert _step_reads(one, None) == [] and _step_reads(one, minibatch) == []
    if family != "wrapper":  # stacked seeds are the built-in families' (fi.train_seeds)
        seeds = [build(family)[0] for _ in range(2)]
        stacked = StackedModels(seeds, [task] * 2, cfg, chunk=None)
        assert _step_reads(stacked, None) == [] and _step_reads(stacked, minibatch.expand(2, -1)) == []


@pytest.mark.parametrize("family", FAMILIES)
def test_an_evaluation_reads_its_numbers_back_in_one_transfer(family):
    """Every run's losses, accuracies and weight norm go to the host together (one ``tolist``), not
    one ``float()`` each: no scalar read while the loop evaluates one model or stacked seeds. The
    records are those :func:`fi.evaluate` gives."""
    from fourier_interp.seeds import StackedModels
    from fourier_interp.training.loop import _Loop
    from fourier_interp.training.single import OneModel

    model, task, cfg, _ = build(family)
    runs = [OneModel(model, task, cfg)]
    if family != "wrapper":
        runs.append(StackedModels([build(family)[0] for _ in range(3)], [task] * 3, cfg, chunk=2))  # two passes
    for run in runs:
        loop = _Loop(run, cfg, [])
        with HostReads() as mode:
            loop.record(0)
        assert mode.reads == []
        for m, history in zip(run.models, loop.histories):
            record = history.records[0]
            assert {k: record[k] for k in fi.evaluate(m, task)} == pytest.approx(fi.evaluate(m, task), rel=1e-6)
            assert record["weight_norm"] == pytest.approx(sum(float(p.detach().pow(2).sum()) for p in m.parameters()),
                                                          rel=1e-5)


def test_the_host_read_audit_sees_a_data_dependent_if_and_the_cpu_table_readout():
    """Positive controls: a wrapped module's ``if tensor``, and the transformer's CPU step (the table
    readout), which counts rows with ``bincount`` in its backward."""
    from fourier_interp.training.single import OneModel

    task = fi.ModularArithmetic(p=P, frac_train=0.5)
    cfg = fi.TrainConfig(steps=6, progress=False)
    assert _step_reads(OneModel(fi.HookedWrapper(ReadsBack(), trace=False), task, cfg), None) != []
    model, task, cfg, _ = build("transformer")
    assert any("bincount" in read for read in _step_reads(OneModel(model, task, cfg), None))
