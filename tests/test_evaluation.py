"""The evaluation core, the one JSON converter, and what now goes through them."""

import json
import math

import pytest
import torch

import fourier_interp as fi
from fourier_interp import jsonio
from fourier_interp.evaluation import (
    EarlyStopping,
    grid_logits,
    loss_and_accuracy,
    loss_fn,
    sample_rows,
    split_metrics,
)


@pytest.fixture(scope="module")
def trained():
    model, task, cfg = fi.from_preset("li2025-k2", p=11, seed=0, steps=30, eval_every=10, progress=False)
    fi.train(model, task, cfg)
    return model, task


# ------------------------------------------------------------------ the grid
def test_chunked_equals_one_pass_and_is_float64(trained):
    model, task = trained
    whole = grid_logits(model, task, batch_rows=task.n)
    assert whole.dtype == torch.float64 and whole.shape == (task.n, task.p)
    for rows in (1, 7, 50):
        torch.testing.assert_close(grid_logits(model, task, batch_rows=rows), whole, rtol=1e-6, atol=1e-6)
    # the widening is exact: the same numbers as the model's own float32 forward
    with torch.no_grad():
        assert torch.equal(whole, model(task.inputs).double())


def test_run_grid_takes_its_logits_from_the_core(trained):
    model, task = trained
    logits, acts = fi.analysis.run_grid(model, task, ["hook_post"], batch_rows=40)
    assert logits.dtype == torch.float64 and acts["hook_post"].dtype == torch.float32
    torch.testing.assert_close(logits, grid_logits(model, task).cpu(), rtol=1e-6, atol=1e-6)
    assert acts["hook_post"].shape[0] == task.n


def test_hooks_see_the_whole_grid_in_one_pass_by_default(trained):
    model, task = trained
    seen = []

    def record(act, hook):
        seen.append(act.shape[0])

    grid_logits(model, task, [("hook_post", record)])
    assert seen == [task.n]  # a frequency or mean ablation needs every row at once
    seen.clear()
    grid_logits(model, task, [("hook_post", record)], batch_rows=50)
    assert seen == [50, 50, task.n - 100]
    assert not model.hook_dict["hook_post"].fwd_hooks  # removed afterwards


def test_a_frequency_ablation_through_the_core_equals_run_with_hooks(trained):
    model, task = trained
    hook = fi.frequency_ablation_hook(task, [1, 2])
    mine = grid_logits(model, task, [("hook_post", hook)])
    with torch.no_grad():
        theirs = model.run_with_hooks(task.inputs, fwd_hooks=[("hook_post", hook)])
    assert torch.equal(mine, theirs.double())


def test_a_model_for_another_task_is_refused_everywhere(trained):
    model, _ = trained
    other = fi.ModularArithmetic(p=7)
    for call in (lambda: grid_logits(model, other), lambda: fi.evaluate(model, other),
                 lambda: fi.restricted_loss(model, other, [1])):
        with pytest.raises(fi.InvalidArgumentError, match="model.cfg.p=11 does not match task.p=7"):
            call()


def test_hooks_and_a_forward_are_not_mixed(trained):
    model, task = trained
    with pytest.raises(fi.InvalidArgumentError, match="fwd_hooks or forward"):
        grid_logits(model, task, [("hook_post", lambda a, hook: a)], forward=model.fast_logits)


# ------------------------------------------------------------- split metrics
def test_split_metrics_are_float64_and_agree_with_the_definition(trained):
    model, task = trained
    logits = grid_logits(model, task)
    metrics = split_metrics(logits, task)
    idx = task.test_idx
    expected_loss = torch.nn.functional.cross_entropy(logits[idx], task.labels[idx]).item()
    expected_acc = (logits[idx].argmax(-1) == task.labels[idx]).double().mean().item()
    assert metrics["test_loss"] == expected_loss and metrics["test_acc"] == expected_acc
    assert loss_and_accuracy(logits, task, "test") == (expected_loss, expected_acc)
    assert loss_fn(logits.float(), task.labels).dtype == torch.float64
    assert fi.evaluate(model, task) == metrics
    assert fi.accuracy(model, task, "test") == expected_acc


def test_a_split_with_no_rows_has_no_numbers():
    task = fi.ModularArithmetic(p=5, frac_train=1.0)
    model = fi.HookedMLP(fi.MLPConfig(p=5))
    metrics = fi.evaluate(model, task)
    assert metrics["test_loss"] is None and metrics["test_acc"] is None and metrics["train_loss"] > 0


def test_the_training_entry_points_share_the_core():
    from fourier_interp import evaluation, seeds, training

    assert training.evaluate is evaluation.evaluate is fi.evaluate
    assert training.loss_fn is evaluation.loss_fn and training.split_metrics is evaluation.split_metrics
    assert seeds.sample_rows is training.sample_rows is evaluation.sample_rows


# --------------------------------------------------------------- training
def test_the_sampler_depends_on_seed_and_step_only():
    a = sample_rows(100, 10, seed=3, step=7)
    assert torch.equal(a, sample_rows(100, 10, seed=3, step=7))
    assert not torch.equal(a, sample_rows(100, 10, seed=3, step=8))
    assert sample_rows(100, None, 3, 7) is None and sample_rows(100, 100, 3, 7) is None


def test_the_early_stopping_rule():
    rule = EarlyStopping(acc=0.9, patience=2)
    assert [rule.update(a) for a in (0.95, None, 0.5, 0.95, 0.99)] == [False, False, False, False, True]
    assert not any(EarlyStopping(None, 1).update(1.0) for _ in range(3))


def test_train_many_stops_each_seed_on_its_own():
    common = dict(p=7, steps=30, eval_every=3, lr=3e-2, frac_train=0.7, early_stop_acc=1e-9, early_stop_patience=3)
    sweep = fi.train_seeds("li2025-k2", seeds=[0, 1], progress=False, **common)
    alone = []
    for seed in (0, 1):
        model, task, cfg = fi.from_preset("li2025-k2", seed=seed, progress=False, **common)
        alone.append((model, fi.train(model, task, cfg)))
    stops = [h.records[-1]["step"] for _, h in alone]
    assert stops[0] < stops[1] == 30 and alone[0][1].stopped_early and not alone[1][1].stopped_early  # the premise
    for i, (model, history) in enumerate(alone):
        mine = sweep.histories[i]
        assert [r["step"] for r in mine.records] == [r["step"] for r in history.records]
        assert mine.stopped_early == history.stopped_early
        for a, b in zip(mine.records, history.records):
            assert a["test_acc"] == pytest.approx(b["test_acc"], abs=1e-9)
        for name, value in model.state_dict().items():  # seed 0's weights are those of its own stop
            torch.testing.assert_close(sweep.models[i].state_dict()[name], value, rtol=1e-4, atol=1e-5, msg=name)


# ------------------------------------------------------- one of each helper
def test_one_gini():
    x = torch.tensor([[0.0, 1.0], [3.0, 4.0]])
    assert not hasattr(fi.interventions, "gini")  # the one gini is fi.analysis.gini
    assert fi.analysis.gini(x.flatten()).item() == pytest.approx(fi.analysis.gini(x.reshape(1, -1)).item())
    assert fi.analysis.gini(torch.tensor([0.0, 0.0, 0.0, 4.0])).item() == pytest.approx(0.75)


def test_one_frequency_rows_helper():
    from fourier_interp.fourier import fourier_basis, frequency_rows

    basis, names = fourier_basis(11)
    rows = frequency_rows(11, [2, 4])
    assert torch.equal(rows, basis[[3, 4, 7, 8]])
    assert [names[i] for i in (3, 4, 7, 8)] == ["cos 2", "sin 2", "cos 4", "sin 4"]
    with pytest.raises(ValueError, match="outside"):
        frequency_rows(11, [6])


def test_verify_ablation_is_the_public_ablation_curve():
    model, task = fi.planted_mlp(p=23, freqs=[3, 7]), fi.ModularArithmetic(p=23)
    report = fi.verify(model, task)
    steps = report.ablation
    curve = fi.ablation_curve(model, task, steps.hook, steps.order, steps.order,
                              control=steps.control_order or False, points=12)
    assert (steps.removed, steps.accuracy, steps.loss) == (curve.removed, curve.accuracy, curve.loss)
    assert (steps.control_removed, steps.control_accuracy) == (curve.control_removed, curve.control_accuracy)


def test_a_sampled_ablation_curve_keeps_the_whole_set_last():
    from fourier_interp.interventions.curves import removal_counts

    assert removal_counts(30, 12)[-1] == 30 and len(removal_counts(30, 12)) <= 12
    assert removal_counts(5, 12) == [1, 2, 3, 4, 5] == removal_counts(5)


# ------------------------------------------------------------------- JSON
def _strict(text):
    def refuse(token):
        raise ValueError(f"not JSON: {token}")

    return json.loads(text, parse_constant=refuse)


def test_the_json_policy_is_strict_and_round_trips_a_history(tmp_path):
    from fourier_interp.checkpoint import atomic_write_json

    history = fi.History(records=[{"step": 0, "train_loss": math.inf, "test_loss": math.nan, "train_acc": 1.0,
                                   "neg": -math.inf}])
    atomic_write_json(tmp_path / "history.json", history.to_dict())
    text = (tmp_path / "history.json").read_text()
    record = _strict(text)["records"][0]
    assert (record["train_loss"], record["test_loss"], record["neg"]) == ("inf", "nan", "-inf")
    back = fi.History.load(tmp_path).records[0]
    assert back["train_loss"] == math.inf and math.isnan(back["test_loss"]) and back["neg"] == -math.inf
    assert back["train_acc"] == 1.0


def test_every_converter_is_the_one_converter():
    from fourier_interp.analysis import results

    assert results.to_json is jsonio.to_json
    table = fi.interventions.ResultTable([{"loss": math.inf, "acc": torch.tensor(0.5)}])
    assert table.to_dict() == {"loss": ["inf"], "acc": [0.5]}
    assert table.to_dataframe()["loss"].tolist() == [math.inf]  # numbers again in pandas
    assert jsonio.dumps({"x": [math.inf, -math.inf, math.nan]}) == '{"x": ["inf", "-inf", "nan"]}'


def test_a_verification_report_is_strict_json():
    report = fi.verify(fi.planted_mlp(p=11, freqs=[2, 5]), fi.ModularArithmetic(p=11))
    data = _strict(report.to_json())
    assert data["key_frequencies"] == [2, 5]
    assert all(isinstance(c["name"], str) for c in data["claims"])


def test_attached_intervention_hooks_see_the_whole_grid():
    """Inside fi.ablate_frequencies the grid runs in one pass, also past BATCH_ROWS (p = 97: 9,409 rows):
    a frequency ablation acts on the grid as a whole, which a chunk of it would break."""
    from fourier_interp.evaluation import BATCH_ROWS, hooks_attached

    model, task = fi.planted_mlp(97, [3, 7]), fi.ModularArithmetic(97)
    assert len(task.inputs) > BATCH_ROWS and not hooks_attached(model)
    with fi.ablate_frequencies(model, task, "hook_post", [5, 11]):  # frequencies the model does not use
        assert hooks_attached(model)
        assert fi.accuracy(model, task) == 1.0
    with fi.ablate_frequencies(model, task, "hook_post", [3, 7]):  # the planted ones
        assert fi.accuracy(model, task) < 0.1
    assert not hooks_attached(model) and fi.accuracy(model, task) == 1.0
