"""Shared fixtures: small tasks and models, built fresh (nothing is mocked)."""

from __future__ import annotations

import os

import pytest
import torch

import fourier_interp as fi

# Two cores on CI: keep torch from oversubscribing when pytest runs in one process.
torch.set_num_threads(min(2, os.cpu_count() or 1))


@pytest.fixture(scope="session")
def task7():
    return fi.ModularArithmetic(p=7, k=2, frac_train=0.5, seed=0)


@pytest.fixture(params=["transformer", "rnn", "mlp_power", "mlp_relu"])
def small_model(request):
    """Every model family at p = 7, k = 2, small widths."""
    p = 7
    if request.param == "transformer":
        return fi.HookedTransformer(fi.TransformerConfig(p=p, d_model=32, n_heads=2, d_head=8, d_mlp=64))
    if request.param == "rnn":
        return fi.HookedRNN(fi.RNNConfig(p=p, d_embed=16, d_hidden=24))
    if request.param == "mlp_power":
        return fi.HookedMLP(fi.MLPConfig(p=p, k=2))
    return fi.HookedMLP(fi.MLPConfig(p=p, k=2, form="embed_relu", d_hidden=40, d_embed=12))
