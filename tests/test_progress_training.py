"""Progress measures recorded during training (fi.ProgressRecorder) and the phases located from them."""

import pytest
import torch

import fourier_interp as fi


def test_recorded_measures_equal_the_offline_ones_on_the_final_model():
    model, task = fi.planted_mlp(p=23, freqs=[3, 7]), fi.ModularArithmetic(p=23, frac_train=0.5)
    history = fi.train(model, task, fi.TrainConfig(steps=4, eval_every=2, progress=False, lr=1e-4),
                       callbacks=[fi.ProgressRecorder([3, 7])])
    last = history.records[-1]
    assert last["progress_freqs"] == [3, 7]
    assert last["restricted_loss"] == pytest.approx(fi.restricted_loss(model, task, [3, 7]), rel=1e-6)
    assert last["excluded_loss"] == pytest.approx(fi.excluded_loss(model, task, [3, 7]), rel=1e-6)
    assert [r["step"] for r in history.records] == [0, 2, 4]


def test_callbacks_are_checked():
    model, task = fi.planted_mlp(p=11, freqs=[2]), fi.ModularArithmetic(p=11)
    with pytest.raises(TypeError, match="callbacks"):
        fi.train(model, task, fi.TrainConfig(steps=1, progress=False), callbacks=["restricted"])
    with pytest.raises(ValueError, match="refresh_every"):
        fi.ProgressRecorder(refresh_every=0)


@pytest.mark.slow
def test_grokking_run_records_progress_and_its_phases_are_ordered():
    model, task, cfg = fi.from_preset("nanda2023", seed=0, p=23, frac_train=0.8, lr=3e-3, steps=3000)
    cfg.progress, cfg.eval_every, cfg.early_stop_acc, cfg.early_stop_patience = False, 100, 0.99, 10
    history = fi.train(model, task, cfg, callbacks=[fi.ProgressRecorder(refresh_every=5)])
    assert fi.accuracy(model, task, "test") >= 0.99
    records = history.records
    assert all(r["restricted_loss"] is not None for r in records if r["progress_freqs"])
    phases = fi.locate_phases(history, p=task.p)
    assert None not in phases.to_dict().values()
    assert 0 < phases.memorisation_end <= phases.circuit_formation_end <= phases.cleanup_end
    # by the end the key frequencies explain the logits: restricted loss near the full loss,
    # excluded loss far above it (Nanda et al.'s signature of the learned circuit)
    last = records[-1]
    assert last["restricted_loss"] - last["train_loss"] < 0.1 * torch.log(torch.tensor(23.0))
    assert last["excluded_loss"] > last["train_loss"] + 0.5 * torch.log(torch.tensor(23.0))


def test_report_training_figure_marks_the_located_phases():
    from fourier_interp.report.figures import training_figure

    records = [{"step": s, "train_loss": 1.0 / (s + 1), "test_loss": 2.0, "train_acc": a, "test_acc": b}
               for s, a, b in [(0, 0.0, 0.0), (100, 1.0, 0.1), (200, 1.0, 0.6), (300, 1.0, 1.0)]]
    fig = training_figure(fi.History(records=records))
    lines = {line.get_label(): line.get_xdata()[0] for line in fig.axes[1].get_lines() if line.get_label() in
             ("memorised", "circuit formed", "cleaned up")}
    assert lines == {"memorised": 100, "circuit formed": 200, "cleaned up": 300}
