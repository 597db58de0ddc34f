"""``fi.verify``: one pass over the full grid, the analyses, the interventions, the verdict."""

from __future__ import annotations

import time
from dataclasses import fields
from typing import Optional

import torch
from torch import Tensor, nn

from ..analysis.frequencies import _analyze_frequencies
from ..analysis.grid import _run_grid, model_spec, resolve_hook
from ..analysis.mlp_weights import _neuron_alignment
from ..checks import check_hook_names, check_model, device_of
from ..errors import InvalidArgumentError, InvalidArgumentTypeError
from ..interventions.units import _locate_units, candidate_unit_hooks
from ..tasks import GroupTask, ModularArithmetic
from ..training import History
from .algorithm import claims_shape, name_algorithm
from .causal import claim_unit_projection, claims_causal
from .claims import (
    Claim,
    Thresholds,
    claim_accuracy,
    claim_logits,
    claim_units,
    claims_extras,
    claims_inputs,
)
from .result import VerificationReport


def verify(
    model: nn.Module,
    task: ModularArithmetic,
    hook: Optional[str] = None,
    embed: Optional[Tensor] = None,
    *,
    thresholds: Optional[Thresholds] = None,
    history: Optional[History] = None,
    name: Optional[str] = None,
    seed: int = 0,
    embed_hook: Optional[str] = None,
    **overrides: float,
) -> VerificationReport:
    """Decide, with evidence, which algorithm ``model`` computes ``task`` with, and whether it is the clock.

    The claims, each with a key (``report.claim(key)``), a role and a threshold
    (``fi.Thresholds``; docs/verify.md has their calibration and measured error rates):

    * **core** — it solves the task; ablating the key frequencies at the unit hook breaks it
      and ablating as many others does not; every unit projected onto its own strongest
      ``m <= max_blocks`` frequency blocks keeps it working while the rest alone does not;
    * **clock** — the key frequencies' ``cos(w (s.a - c))`` terms explain its logits, its
      inputs are Fourier-sparse, restricted and excluded loss (and, for power MLPs, the
      single-frequency unit weights and their phase relation);
    * **shape** — its correct logit's size does not follow ``a - b`` (distance irrelevance,
      ``a - b``'s share, per-frequency amplitude modulation), each read from logits centred
      over answers.

    ``report.algorithm`` is named from them by a fixed table: ``non-fourier`` (a core claim
    fails), ``pizza``, ``mixed``, ``fourier-incomplete`` (clock-shaped, a clock claim fails),
    ``clock`` or ``clock-superposed`` (units superposing ``report.blocks`` frequencies);
    ``report.passed`` means ``clock`` or ``clock-superposed``.

    Args:
        model: A built-in model (hook roles known from ``analysis_spec()``) or any
            ``HookedRootModule`` mapping ``[batch, k]`` operands to ``[batch, p]`` logits
            (wrap a plain module with ``fi.HookedWrapper``).
        task: The task; the model is run on its full grid ``task.inputs``.
        hook: Hook of the hidden units, the ``hook`` of every other analysis and
            intervention. Built-in models name theirs; for a model without
            ``analysis_spec`` (a ``fi.HookedWrapper``) ``None`` scans its hidden layers with
            :func:`fi.locate_units` and uses the layer where the operands have met, whose
            units carry the computation and project onto the fewest frequency blocks (the
            report's ``unit_scan`` claim says which and why).
        embed: Token embedding ``[p, d]`` for claim 4 on a custom model (built-in models
            supply theirs); ``None`` there marks the claim not applicable.
        thresholds: A :class:`Thresholds`; single thresholds can also be passed as
            keyword arguments, e.g. ``verify(model, task, logit_fraction=0.8)``.
        history: A training :class:`History`; its curves (with restricted/excluded loss
            when recorded) go in the report.
        name: A name for the report (default: the model class).
        seed: Seeds the random choice of control frequencies and the gradient-symmetricity sample.
        embed_hook: Hook of the operands' input embeddings ``[batch, pos, d]`` for the
            gradient symmetricity (built-in models name theirs).

    Returns:
        A :class:`VerificationReport`: ``.passed``, ``.algorithm``, ``.reason``,
        ``.key_frequencies``, ``.blocks``, ``.claims`` (``.claim(key)``), ``to_dict()``,
        ``to_json(path)``, ``to_html(path)``; ``print(report)`` shows the table.

    Example:
        >>> import fourier_interp as fi
        >>> report = fi.verify(fi.planted_mlp(p=23, freqs=[3, 7]), fi.ModularArithmetic(p=23))
        >>> report.passed, report.key_frequencies, str(report.algorithm)
        (True, [3, 7], 'clock')
        >>> pizza = fi.verify(fi.planted_pizza(p=23, freqs=[3, 7]), fi.ModularArithmetic(p=23))
        >>> pizza.passed, str(pizza.algorithm)
        (False, 'pizza')
    """
    if isinstance(task, GroupTask) and (not isinstance(task, ModularArithmetic) or task.op == "mul"):
        # any other group (and multiplication, Z_p^* in log coordinates): the claims in irreps
        from .groups import verify_group

        if embed is not None or history is not None or embed_hook is not None:
            raise InvalidArgumentTypeError("verify() on a group task takes model, task, hook=, thresholds=, name= and "
                                           "thresholds as keywords (see fi.verification.groups.verify_group)")
        return verify_group(model, task, hook, thresholds=thresholds, name=name, **overrides)
    # the door: everything below trusts model, task, the hooks and the thresholds
    if not isinstance(task, ModularArithmetic):
        raise InvalidArgumentTypeError(
            f"task must be a fourier_interp.ModularArithmetic or GroupTask, got {type(task).__name__}")
    check_model(model, task)
    if thresholds is not None and not isinstance(thresholds, Thresholds):
        raise InvalidArgumentTypeError(f"thresholds must be a fi.Thresholds, got {type(thresholds).__name__}")
    allowed = {f.name for f in fields(Thresholds)}
    if set(overrides) - allowed:
        raise InvalidArgumentTypeError(
            f"verify() got unknown threshold(s) {sorted(set(overrides) - allowed)}; allowed: {sorted(allowed)}")
    th = Thresholds(**{**(thresholds or Thresholds()).to_dict(), **overrides})
    if embed_hook is not None:
        check_hook_names(model, embed_hook, "embed_hook")
    spec = model_spec(model)
    scan = None
    if spec is None and hook is None:  # a model of the user's own: find the layer where its units live
        scan = _locate_units(model, task, candidate_unit_hooks(model, task), max_blocks=th.max_blocks)
        if scan.hook is None:
            rows = "; ".join(f"{r['hook']}: {r['reason']}" for r in scan.rows)
            raise InvalidArgumentError(
                f"{type(model).__name__} has no analysis_spec() and no hidden layer qualifies as its units ({rows}); "
                "name them with hook=<hook name>")
        hook = scan.hook
    neurons = resolve_hook(model, hook)
    if embed is None and spec is not None:
        embed = spec.embed
    evidence = spec.evidence if spec is not None else frozenset()
    pattern_hook = spec.attention_pattern if "attention" in evidence else None

    was_training = model.training
    model.eval()
    timings: dict[str, float] = {}
    start = time.perf_counter()
    try:
        hooks = [neurons] + ([pattern_hook] if pattern_hook else [])
        logits, acts = _run_grid(model, task, hooks, pos=-1)  # the one full-grid pass
        freq = _analyze_frequencies(model, task, neurons, threshold=th.unit_fraction, grid=(logits, acts))
        align = None
        if "neuron_alignment" in evidence and spec.unit_input_weights is not None and spec.unit_output_weights is not None:
            align = _neuron_alignment(model, task, threshold=th.unit_weight_purity, logits=logits)
        timings["analysis_s"] = time.perf_counter() - start

        key, rule = freq.key_frequencies, freq.rule
        if freq.logits.explained(key) < th.logit_fraction:
            # units that superpose frequencies cluster poorly; the logits then name the rest of the set
            wider = sorted(set(key) | set(freq.methods["logits"]))
            if freq.logits.explained(wider) > freq.logits.explained(key) + 1e-9:
                key, rule = wider, rule + ", with the logits' frequencies (the units' set explains too little)"
                freq.key_frequencies, freq.rule = key, rule
        claims = [
            claim_accuracy(logits, task, th),
            claim_units(freq, th),
            claim_logits(freq, task, th),
            *claims_inputs(task, freq, embed, align, th),
        ]
        t = time.perf_counter()
        if spec is not None and neurons in spec.units:
            where = spec.unit_position  # the readout position of a [batch, pos, units] hook, or None
        else:  # a model without a spec: look at the hook's shape once
            _, probe = model.run_with_cache(task.inputs[:1].to(device_of(model)), names_filter=[neurons])
            where = -1 if probe[neurons].ndim >= 3 else None
        curve, causal = claims_causal(model, task, logits, neurons, key, freq.logits.fraction, th, seed,
                                      freq.units.harmonic_order, where)
        claims += causal
        projection, unit_claim = claim_unit_projection(model, task, neurons, (logits, {neurons: acts[neurons]}), th,
                                                       freq.units.harmonic_order, -1 if where is not None else None)
        claims.append(unit_claim)
        timings["interventions_s"] = time.perf_counter() - t

        attention = examples = None
        if pattern_hook:
            rows = torch.linspace(0, task.n - 1, 4).long()
            _, cache = model.run_with_cache(task.inputs[rows].to(device_of(model)), names_filter=[pattern_hook])
            patterns = cache[pattern_hook].float().cpu()  # [example, head, query, key]
            n_ctx = patterns.shape[-1]
            attention = acts[pattern_hook].reshape(task.n, -1, n_ctx).mean(0)  # [head, key_pos] from the readout
            # shares of each row (constant attention weights every position 1, not 1/n)
            attention = attention / attention.sum(-1, keepdim=True).clamp_min(1e-30)
            extra = ["="] * (n_ctx - task.k)  # the positions after the operands ('=' for the transformer)
            examples = {"tokens": [[str(int(a)) for a in task.inputs[r]] + extra for r in rows], "patterns": patterns}
        extras, extra_claims = claims_extras(model, task, align, attention, th, evidence)
        shape_evidence, shape_claims = claims_shape(model, task, logits, key, th, seed=seed, embed_hook=embed_hook,
                                                    embed=embed)
        claims += shape_claims
        extras.update(shape_evidence)
        extras["unit_projection"] = projection
        claims += extra_claims
        if scan is not None:
            extras["unit_scan"] = scan
            claims.append(Claim(
                "where the units live", None, "finding", None,
                f"no hook named: scanned {len(scan.rows)} layers and chose {scan.hook!r} (the operands have met there, "
                "its units carry the computation and project onto the fewest frequency blocks; the latest such layer "
                "on a tie): " + "; ".join(
                    f"{r['hook']}: {r['reason']}" + (f", {r['blocks']} blocks" if r["blocks"] else "") for r in scan.rows),
                key="unit_scan", role="info"))
        if examples is not None:
            extras["attention_examples"] = examples
        by_key = {c.key: c for c in claims}
        algorithm, reason = name_algorithm(by_key, th, projection.blocks)
    finally:
        model.train(was_training)
    timings["total_s"] = time.perf_counter() - start
    return VerificationReport(
        name=name or type(model).__name__,
        model_class=type(model).__name__,
        task=task,
        neurons=neurons,
        passed=algorithm.is_clock,
        key_frequencies=list(key),
        algorithm=algorithm,
        reason=reason,
        blocks=projection.blocks,
        claims=claims,
        thresholds=th,
        frequencies=freq,
        ablation=curve,
        extras=extras,
        history=history,
        timings=timings,
    )
