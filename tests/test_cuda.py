"""CUDA paths (skipped without a GPU): training, many seeds, verification and checkpoints on the device."""

import pytest
import torch

import fourier_interp as fi

pytestmark = [
    pytest.mark.gpu,
    pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device"),
]


def test_train_on_cuda_matches_cpu_closely():
    runs = {}
    for device in ("cpu", "cuda"):
        model, task, cfg = fi.from_preset("li2025-k2", p=11, steps=20, eval_every=10)
        cfg.progress, cfg.device = False, device
        history = fi.train(model, task, cfg)
        assert model.cfg.device.startswith(device)
        runs[device] = (model.cpu(), history)
    torch.testing.assert_close(runs["cuda"][0].U, runs["cpu"][0].U, rtol=1e-3, atol=1e-4)


def test_train_seeds_on_cuda():
    sweep = fi.train_seeds("nanda2023", seeds=[0, 1], progress=False, p=11, steps=10, device="cuda")
    assert all(m.device.type == "cuda" for m in sweep.models)


def test_verify_and_save_on_cuda(tmp_path):
    model = fi.planted_mlp(p=23, freqs=[3, 7]).to("cuda")
    task = fi.ModularArithmetic(p=23)
    report = fi.verify(model, task)
    assert report.passed and report.key_frequencies == [3, 7]
    model.save(tmp_path / "m", task=task)
    loaded = fi.load(tmp_path / "m", device="cuda")
    assert loaded.device.type == "cuda" and torch.equal(loaded.U.cpu(), model.U.cpu())
