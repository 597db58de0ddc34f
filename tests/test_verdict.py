"""The verdict: its decision table claim by claim, invariance of every deciding measure to what
does not change the model's function, the causal unit claim, and the hard negative controls."""

from __future__ import annotations

import math

import pytest
import torch

import fourier_interp as fi
from fourier_interp.verification import CLAIMS, Claim, Thresholds
from fourier_interp.verification.algorithm import name_algorithm, shape_of

TH = Thresholds()


# ------------------------------------------------------------------ decision table
def _claims(**passed) -> dict[str, Claim]:
    """Every deciding claim passing, except those given as key=False (or None: not applicable)."""
    values = {"distance_irrelevance": 0.9, "amplitude_modulation": 0.05}
    out = {}
    for key, (role, _) in CLAIMS.items():
        ok = passed.get(key, True)
        out[key] = Claim(key, values.get(key, 1.0), "", ok, "", key=key)
    return out


def test_every_core_claim_alone_makes_a_model_non_fourier():
    for key, (role, _) in CLAIMS.items():
        if role == "core":
            name, reason = name_algorithm(_claims(**{key: False}), TH, 1)
            assert name == "non-fourier" and key in reason, key


def test_every_clock_claim_alone_makes_a_clock_shaped_model_fourier_incomplete():
    for key, (role, _) in CLAIMS.items():
        if role == "clock":
            name, reason = name_algorithm(_claims(**{key: False}), TH, 1)
            assert name == "fourier-incomplete" and key in reason, key


def test_shape_claims_decide_clock_pizza_and_mixed():
    assert name_algorithm(_claims(), TH, 1) == (fi.Algorithm.CLOCK, "every claim holds; one frequency per unit")
    assert name_algorithm(_claims(), TH, 2)[0] == "clock-superposed"
    for key in ("distance_irrelevance", "amplitude_modulation"):
        assert name_algorithm(_claims(**{key: False}), TH, 1)[0] == "mixed", key
    pizza = _claims(distance_irrelevance=False, amplitude_modulation=False)
    pizza["distance_irrelevance"].value = TH.pizza_distance_irrelevance - 0.01
    assert shape_of(pizza, TH) == "pizza" and name_algorithm(pizza, TH, 1)[0] == "pizza"
    # a pizza stays a pizza when a clock claim fails too: the shape is decided first
    pizza["logits"].passed = False
    assert name_algorithm(pizza, TH, 1)[0] == "pizza"


def test_not_applicable_claims_do_not_decide():
    claims = _claims(control=None, unit_weights=None, phase_relation=None)
    assert name_algorithm(claims, TH, 1)[0] == "clock"


def test_only_clocks_pass():
    assert [a.is_clock for a in fi.Algorithm] == [a in ("clock", "clock-superposed") for a in fi.Algorithm]


# ------------------------------------------------------------------ causal unit claim
def test_unit_projection_finds_one_block_for_a_planted_clock_and_none_for_lookups():
    task = fi.ModularArithmetic(p=13)
    clock = fi.unit_projection(fi.planted_mlp(p=13, freqs=[2, 5]), task)
    assert clock.blocks == 1 and clock.keep_accuracy[0] == 1.0 and clock.rest_accuracy[0] < 0.3
    assert set(clock.unit_frequencies[:, 0].tolist()) == {2, 5}
    for lookup in (fi.memorizing_mlp(p=13), fi.fourier_lookup_mlp(p=13, freqs=[2, 5])):
        res = fi.unit_projection(lookup, task)
        assert res.blocks is None
        assert not all(res.breaks)  # the rest alone keeps the lookup working at some count


class SuperposedClocks(torch.nn.Module):
    """Two planted clocks (frequencies 2 and 5) whose units are summed in pairs after the activation.

    The units of ``mix`` are ``(h2_i + h5_i) / sqrt 2`` and ``(h2_i - h5_i) / sqrt 2``: every unit
    superposes one unit of each clock, and the readout undoes the mixing, so the logits are the
    two clocks' sum exactly and every path to them goes through the mixed units.
    """

    def __init__(self, p: int = 13):
        super().__init__()
        self.a, self.b = fi.planted_mlp(p=p, freqs=[2]), fi.planted_mlp(p=p, freqs=[5])
        self.mix = torch.nn.Identity()

    def forward(self, x):
        def hidden(model):
            return fi.models.base.power(sum(model.U[j, x[:, j]] for j in range(x.shape[1])), model.cfg.power)

        ha, hb = hidden(self.a), hidden(self.b)
        # [batch, 2 units]: unit i and unit n + i each carry one unit of both clocks
        units = self.mix(torch.cat([ha + hb, ha - hb], 1) / math.sqrt(2))
        plus, minus = units.chunk(2, dim=1)
        return ((plus + minus) / math.sqrt(2)) @ self.a.W_out + ((plus - minus) / math.sqrt(2)) @ self.b.W_out


def test_units_superposing_two_frequencies_need_two_blocks():
    p, task = 13, fi.ModularArithmetic(p=13)
    model = fi.HookedWrapper(SuperposedClocks(p), p=p, k=2, trace=False)
    assert fi.accuracy(model, task) == 1.0
    res = fi.unit_projection(model, task, "mix", pos=None, harmonic_order=2)
    assert res.blocks == 2 and not (res.works[0] and res.breaks[0])
    clean = fi.unit_projection(fi.planted_mlp(p=p, freqs=[2, 5]), task)
    assert clean.blocks == 1


# ------------------------------------------------------------------ hard negatives
def test_lookup_with_fourier_embeddings_and_clock_readout_is_non_fourier():
    """Its embedding, logits, ablations and shape all look like a clock; only the causal unit claim catches it."""
    model, task = fi.fourier_lookup_mlp(p=23, freqs=[3, 7]), fi.ModularArithmetic(p=23)
    report = fi.verify(model, task)
    by_key = report.claims_by_key()
    assert fi.accuracy(model, task) == 1.0
    assert by_key["logits"].passed and by_key["inputs"].passed and by_key["distance_irrelevance"].passed
    assert by_key["unit_projection"].passed is False
    assert report.algorithm == "non-fourier" and not report.passed and "unit_projection" in report.reason


def test_memoriser_is_non_fourier():
    report = fi.verify(fi.memorizing_mlp(p=13), fi.ModularArithmetic(p=13))
    assert report.algorithm == "non-fourier" and report.claim("unit_projection").passed is False


# ------------------------------------------------------------------ invariance
DECIDING = ("core", "clock", "shape")


def _deciding(report) -> dict[str, float]:
    return {c.key: c.value for c in report.claims if c.role in DECIDING}


def _same(a, b, tol=2e-3):
    assert a.algorithm == b.algorithm and a.passed == b.passed and a.key_frequencies == b.key_frequencies
    va, vb = _deciding(a), _deciding(b)
    assert va.keys() == vb.keys()
    for key in va:
        x, y = va[key], vb[key]
        if x is None or y is None:
            assert x is y, key
        else:
            assert abs(x - y) <= tol * max(1.0, abs(x)), (key, x, y)


def _shift(act, hook):
    """An input-dependent amount added to every answer's logit: softmax, accuracy and loss unchanged."""
    return act - act.max(-1, keepdim=True).values + 3.0 * torch.sin(act.sum(-1, keepdim=True))


@pytest.mark.slow
@pytest.mark.parametrize("name", ["transformer-clock-p59", "transformer-pizza-p59"])
def test_softmax_invariant_logit_shift_moves_no_deciding_claim(name):
    model, task = fi.load_pretrained(name)
    before = fi.verify(model, task)
    raw = fi.distance_irrelevance(model, task, centre=False).value
    model.add_hook("hook_logits", _shift, is_permanent=True)
    try:
        after = fi.verify(model, task)
        moved = fi.distance_irrelevance(model, task, centre=False).value
    finally:
        model.reset_hooks(including_permanent=True)
    assert abs(moved - raw) > 0.15  # the shift moves the raw reading a lot ...
    _same(before, after)  # ... and nothing the verdict reads


@pytest.mark.slow
def test_unit_permutation_and_residual_rotation_move_no_deciding_claim():
    model, task = fi.load_pretrained("transformer-clock-p59")
    before = fi.verify(model, task)
    gen = torch.Generator().manual_seed(0)
    perm = torch.randperm(model.cfg.d_mlp, generator=gen)
    rot, _ = torch.linalg.qr(torch.randn(model.cfg.d_model, model.cfg.d_model, generator=gen, dtype=torch.float64))
    rot = rot.float()
    mlp, attn = model.blocks[0].mlp, model.blocks[0].attn
    with torch.no_grad():
        mlp.W_in.copy_(mlp.W_in[:, perm])
        mlp.b_in.copy_(mlp.b_in[perm])
        mlp.W_out.copy_(mlp.W_out[perm])
        # a change of basis of the residual stream: what writes to it by rot, what reads it by rot^T
        model.W_E.copy_(model.W_E @ rot)
        model.W_pos.copy_(model.W_pos @ rot)
        for W in (attn.W_Q, attn.W_K, attn.W_V):
            W.copy_(torch.einsum("dD,hDe->hde", rot.T, W))
        attn.W_O.copy_(attn.W_O @ rot)
        attn.b_O.copy_(attn.b_O @ rot)
        mlp.W_in.copy_(rot.T @ mlp.W_in)
        mlp.W_out.copy_(mlp.W_out @ rot)
        mlp.b_out.copy_(mlp.b_out @ rot)
        model.W_U.copy_(rot.T @ model.W_U)
    assert fi.accuracy(model, task) == 1.0
    _same(before, fi.verify(model, task))


@pytest.mark.slow
def test_per_input_rescaling_cannot_turn_a_pizza_into_a_clock():
    """A per-input positive rescaling changes the probabilities (not a symmetry); the shape claims still refuse 'clock'."""

    def standardise(act, hook):  # LayerNorm over the answers
        centred = act - act.mean(-1, keepdim=True)
        return centred / centred.std(-1, keepdim=True)

    # standardised logits are unconfident (loss ~ ln p / 2), so the clock may lose its clock claims on the losses
    for name, allowed in (("transformer-pizza-p59", {"pizza", "mixed"}),
                          ("transformer-clock-p59", {"clock", "fourier-incomplete"})):
        model, task = fi.load_pretrained(name)
        model.add_hook("hook_logits", standardise, is_permanent=True)
        try:
            report = fi.verify(model, task)
        finally:
            model.reset_hooks(including_permanent=True)
        assert str(report.algorithm) in allowed, (name, report.algorithm, report.reason)


def test_centred_distance_irrelevance_ignores_a_shift_on_planted_models():
    task = fi.ModularArithmetic(p=23)
    for model in (fi.planted_mlp(p=23, freqs=[3, 7]), fi.planted_pizza(p=23, freqs=[3, 7])):
        logits = fi.evaluation.grid_logits(model, task)
        a, b = task.inputs.T
        shifted = logits + 5.0 * torch.cos(2 * math.pi * (a - b).double() / 23)[:, None]
        assert fi.distance_irrelevance(shifted, task).value == pytest.approx(
            fi.distance_irrelevance(logits, task).value, abs=1e-9)
        mod = fi.amplitude_modulation(shifted, task, [3, 7]).value
        assert mod == pytest.approx(fi.amplitude_modulation(logits, task, [3, 7]).value, abs=1e-9)


# ------------------------------------------------------------------ names on real models
@pytest.mark.slow
def test_k3_transformer_is_named_a_clock_by_the_projection_not_the_variance(trained_small):
    """Its units do not hold 85% of their variance in one frequency, yet each computes with a block or two."""
    model, task, history = trained_small("transformer_k3")
    assert fi.accuracy(model, task, "test") >= 0.99
    report = fi.verify(model, task, history=history)
    assert report.algorithm in ("clock", "clock-superposed"), report.reason
    assert report.claim("unit_projection").passed and report.blocks is not None
    assert report.claim("unit_variance").value < 0.5  # the variance criterion alone would call it non-fourier
    res = report.extras["unit_projection"]
    assert res.rest_accuracy[res.counts.index(report.blocks)] < 0.3  # the cross-frequency rest alone fails


@pytest.mark.slow
def test_subtraction_transformer_gets_a_fourier_name(trained_small):
    model, task, history = trained_small("transformer_sub")
    assert fi.accuracy(model, task, "test") >= 0.99
    assert model(task.inputs[:64], return_type="loss") < 0.1  # the model's own loss asks the task
    assert fi.verify(model, task).algorithm != "non-fourier"



def test_shipped_zhong_models_keep_their_names():
    for name, algorithm in (("transformer-clock-p59", "clock"), ("transformer-pizza-p59", "pizza")):
        model, task = fi.load_pretrained(name)
        report = fi.verify(model, task)
        assert report.algorithm == algorithm, (name, report.reason)


def test_circularity_of_clock_and_pizza_embeddings_is_high_and_of_noise_low():
    for name in ("transformer-clock-p59", "transformer-pizza-p59"):
        model, task = fi.load_pretrained(name)
        assert fi.circularity(model.W_E.detach(), task.p).value > 0.9
    noise = torch.randn(59, 128, generator=torch.Generator().manual_seed(0))
    assert fi.circularity(noise).value < 0.3
