"""Named settings that reproduce the papers: a fresh model, its task and its TrainConfig.

Example:
    >>> import fourier_interp as fi
    >>> model, task, cfg = fi.from_preset("nanda2023", seed=1)
    >>> type(model).__name__, task.frac_train, cfg.lr, cfg.betas
    ('HookedTransformer', 0.3, 0.001, (0.9, 0.98))

The README's presets table lists the settings with the steps at which each run grokked.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from .errors import InvalidArgumentError
from .models import HookedMLP, HookedModel, HookedRNN, HookedTransformer, MLPConfig, RNNConfig, TransformerConfig
from .groups import from_spec
from .tasks import GroupTask, ModularArithmetic
from .training import TrainConfig


@dataclass(frozen=True)
class Preset:
    """A named setting: model family and config fields, task fields and training fields."""

    name: str
    family: type[HookedModel]
    model: dict[str, Any]
    task: dict[str, Any]
    train: dict[str, Any]
    source: str
    notes: str = ""
    small: dict[str, Any] = field(default_factory=dict)  # overrides for a quick small-p run

    def build(self, seed: int = 0, **overrides: Any):
        """``(model, task, train_cfg)``; ``overrides`` may set p, k, frac_train, steps and model fields."""
        model_fields, task_fields, train_fields = dict(self.model), dict(self.task), dict(self.train)
        for key, value in overrides.items():
            if key == "p" and "group" in task_fields:
                raise InvalidArgumentError(f"from_preset({self.name!r}) poses a group task; p is its order, not an override")
            if key in ("p", "k"):
                model_fields[key] = task_fields[key] = value
            elif key in ("frac_train", "op"):
                task_fields[key] = value
            elif key in {f for f in TrainConfig.__dataclass_fields__}:
                train_fields[key] = value
            elif key in self.family.config_class.__dataclass_fields__:
                model_fields[key] = value
            else:
                raise InvalidArgumentError(f"from_preset({self.name!r}) got an unknown override {key!r}")
        model_fields.setdefault("k", task_fields.get("k", 2))
        task_fields.setdefault("k", model_fields["k"])
        if model_fields.get("p") != task_fields.get("p"):
            task_fields["p"] = model_fields["p"]
        if "group" in task_fields:
            spec = task_fields.pop("group")
            task = GroupTask(from_spec(spec), **{key: task_fields[key] for key in ("k", "frac_train")}, seed=seed)
        else:
            task = ModularArithmetic(**task_fields, seed=seed)
        model_fields.update(task.config_fields())  # the model records its task (p is the number of tokens)
        cfg = self.family.config_class(**model_fields, seed=seed)
        return self.family(cfg), task, TrainConfig(**train_fields, seed=seed)


_NANDA_TRAIN = dict(lr=1e-3, weight_decay=1.0, betas=(0.9, 0.98), warmup_steps=10, eval_every=100)

_ZHONG = ("Zhong, Liu, Tegmark, Andreas, 'The Clock and the Pizza: Two Stories in Mechanistic Explanation of "
          "Neural Networks', NeurIPS 2023")
_ZHONG_TRAIN = dict(lr=1e-3, weight_decay=2.0, betas=(0.9, 0.98), warmup_steps=10, eval_every=100)


def _zhong(name: str, attn_coeff: float, notes: str) -> Preset:
    """Zhong et al.'s setting (p = 59, 80% train, weight decay 2) at one attention rate."""
    return Preset(name=name, family=HookedTransformer, model=dict(p=59, k=2, attn_coeff=attn_coeff),
                  task=dict(p=59, k=2, frac_train=0.8), train=dict(steps=20_000, **_ZHONG_TRAIN), source=_ZHONG,
                  notes=notes)

_CHUGHTAI = ("Chughtai, Chan, Nanda, 'A Toy Model of Universality: Reverse Engineering How Networks Learn Group "
             "Operations', ICML 2023 (code: bilal-chughtai/rep-theory-mech-interp)")
_CHUGHTAI_TRAIN = dict(lr=1e-3, weight_decay=1.0, betas=(0.9, 0.98), warmup_steps=10, eval_every=100)
_CHUGHTAI_MLP = dict(k=2, form="embed_relu", combine="concat", d_embed=256, d_hidden=128)


def _chughtai(name: str, group: str, family: type[HookedModel], frac_train: float, steps: int) -> Preset:
    """Chughtai et al.'s batch-experiment setting for one group and architecture."""
    model = dict(_CHUGHTAI_MLP) if family is HookedMLP else dict(k=2)
    notes = ("MLP: left/right operand embeddings of width 256 concatenated, ReLU hidden layer of 128 (here one shared "
             "token table with per-operand input blocks, and biases); " if family is HookedMLP else
             "transformer as nanda2023; ") + f"full batch on {frac_train:.0%}, their {steps} epochs"
    return Preset(name=name, family=family, model=model, task=dict(group=group, k=2, frac_train=frac_train),
                  train=dict(steps=steps, **_CHUGHTAI_TRAIN), source=_CHUGHTAI, notes=notes)


PRESETS: dict[str, Preset] = {
    p.name: p
    for p in [
        Preset(
            name="nanda2023",
            family=HookedTransformer,
            model=dict(p=113, k=2),
            task=dict(p=113, k=2, frac_train=0.3),
            train=dict(steps=40_000, **_NANDA_TRAIN),
            source="Nanda et al., 'Progress measures for grokking via mechanistic interpretability', ICLR 2023",
            notes="1 layer, d_model 128, 4 heads x 32, d_mlp 512, ReLU, no LayerNorm; full batch on 30%",
        ),
        Preset(
            name="rnn",
            family=HookedRNN,
            model=dict(p=113, k=2, d_embed=128, d_hidden=256, act_fn="relu"),
            task=dict(p=113, k=2, frac_train=0.5),
            train=dict(steps=20_000, lr=3e-3, weight_decay=1.0, betas=(0.9, 0.98), warmup_steps=10, eval_every=100),
            source="Rangamani, 'Low Rank and Sparse Fourier Structure in Recurrent Networks', ICASSP 2025",
            notes="settings chosen here (the paper does not give them); see README",
        ),
        Preset(
            name="li2025-k2",
            family=HookedMLP,
            model=dict(p=113, k=2, form="power"),
            task=dict(p=113, k=2, frac_train=0.5),
            train=dict(steps=30_000, lr=3e-3, weight_decay=1.0, betas=(0.9, 0.98), warmup_steps=10, eval_every=100),
            source="Li et al., 'Fourier Circuits in Neural Networks and Transformers', AISTATS 2025",
            notes="power activation x^2, width 4(p-1); settings chosen here; see README",
        ),
        Preset(
            name="li2025-k3",
            family=HookedMLP,
            model=dict(p=23, k=3, form="power"),
            task=dict(p=23, k=3, frac_train=0.3),
            train=dict(steps=20_000, lr=1e-3, weight_decay=1.0, betas=(0.9, 0.98), warmup_steps=10, eval_every=100),
            source="Li et al., 'Fourier Circuits in Neural Networks and Transformers', AISTATS 2025",
            notes="power activation x^3, width 16(p-1); settings chosen here; see README",
        ),
        _zhong("zhong2023-clock", 1.0, "softmax attention (attention rate 1), which tends to the clock; 1 layer, "
               "d_model 128, 4 heads x 32, d_mlp 512, ReLU; full batch on 80%"),
        _chughtai("chughtai2023-s5", "symmetric(5)", HookedMLP, 0.4, 250_000),
        _chughtai("chughtai2023-s5-transformer", "symmetric(5)", HookedTransformer, 0.6, 50_000),
        _chughtai("chughtai2023-s6", "symmetric(6)", HookedMLP, 0.25, 250_000),
        _chughtai("chughtai2023-a5", "alternating(5)", HookedMLP, 0.5, 250_000),
        _chughtai("chughtai2023-d59", "dihedral(59)", HookedMLP, 0.3, 250_000),
        Preset(
            name="mul113",
            family=HookedTransformer,
            model=dict(p=113, k=2),
            task=dict(p=113, k=2, op="mul", frac_train=0.3),
            train=dict(steps=40_000, **_NANDA_TRAIN),
            source="multiplication mod 113 (the group Z_113^*, cyclic of order 112) in nanda2023's setting",
            notes="tokens are the residues 1..112 as indices 0..111 (cfg.p = 112); frequencies live in the log basis",
            # groks at p = 23, 29 and 31 within ~2,000 steps (at 30% or at lr 1e-3 it does not within 4,000)
            small=dict(p=23, frac_train=0.7, lr=3e-3, steps=3000),
        ),
        _zhong("zhong2023-pizza", 0.0, "constant attention (attention rate 0: '=' sums the operands' values), which "
               "tends to the pizza; otherwise as zhong2023-clock"),
    ]
}


def _check_catalog() -> None:
    """The torch-free names in :mod:`fourier_interp.catalog` must match the presets defined here."""
    from .catalog import FAMILY_CLASSES, PRESET_FAMILY

    actual = {name: p.family.__name__ for name, p in PRESETS.items()}
    expected = {name: FAMILY_CLASSES[family] for name, family in PRESET_FAMILY.items()}
    if actual != expected:
        raise RuntimeError(f"fourier_interp.catalog is out of date: presets {actual}, catalog {expected}")


_check_catalog()


def list_presets() -> list[str]:
    """Names accepted by :func:`from_preset`."""
    return sorted(PRESETS)


def from_preset(name: str, seed: int = 0, **overrides: Any):
    """A fresh model, its task and its TrainConfig for the named setting.

    Args:
        name: One of :func:`list_presets`.
        seed: Seeds the model init, the train/test split and the training run.
        **overrides: ``p``, ``k``, ``frac_train``, any TrainConfig field (``steps``,
            ``lr`` ...) or model-config field (``d_hidden`` ...).

    Returns:
        ``(model, task, train_cfg)``.
    """
    if name not in PRESETS:
        raise InvalidArgumentError(f"unknown preset {name!r}; expected one of {list_presets()}")
    return PRESETS[name].build(seed=seed, **overrides)


def preset(name: str) -> Preset:
    if name not in PRESETS:
        raise InvalidArgumentError(f"unknown preset {name!r}; expected one of {list_presets()}")
    return PRESETS[name]
