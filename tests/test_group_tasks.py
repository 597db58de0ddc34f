"""Tasks own their answers: group tasks, multiplication mod p, and every loss path asking the task."""

import json

import pytest
import torch
import torch.nn.functional as F

import fourier_interp as fi
from fourier_interp import groups


def test_group_task_labels_are_the_groups_products():
    g = groups.symmetric(3)
    task = fi.GroupTask(g, k=2, frac_train=0.5, seed=3)
    assert task.p == task.order == 6 and task.n == 36 and task.inputs.shape == (36, 2)
    assert torch.equal(task.labels, g.table[task.inputs[:, 0], task.inputs[:, 1]])
    both = torch.cat([task.train_idx, task.test_idx]).sort().values
    assert torch.equal(both, torch.arange(36)) and len(task.train_idx) == 18
    k3 = fi.GroupTask(groups.dihedral(4), k=3)
    a, b, c = k3.inputs.T
    assert torch.equal(k3.labels, k3.group.table[k3.group.table[a, b], c])  # (g1 g2) g3, left to right
    assert fi.GroupTask.from_dict(task.to_dict()) == task
    assert json.loads(json.dumps(task.to_dict())) == task.to_dict()


def test_multiplication_mod_p_is_z_p_star():
    p = 11
    task = fi.ModularArithmetic(p, op="mul", frac_train=0.5)
    residues = task.group.residues
    assert task.p == 10 and task.modulus == 11 and task.n == 100
    a, b = residues[task.inputs].T
    assert torch.equal(residues[task.labels], (a * b) % p)
    assert repr(task).startswith("ModularArithmetic(a1 * a2 mod 11: 100 rows")
    assert fi.GroupTask.from_dict(task.to_dict()) == task  # a ModularArithmetic again
    k3 = fi.ModularArithmetic(7, k=3, op="mul")
    r = k3.group.residues
    assert torch.equal(r[k3.labels], r[k3.inputs].prod(-1) % 7)


def test_bad_group_task_arguments_are_named():
    with pytest.raises(TypeError, match="group must be a fi.groups.Group"):
        fi.GroupTask("S3")
    with pytest.raises(fi.InvalidArgumentError, match="k=0"):
        fi.GroupTask(groups.symmetric(3), k=0)
    with pytest.raises(fi.InvalidArgumentError, match="frac_train"):
        fi.GroupTask(groups.symmetric(3), frac_train=0.0)


def test_subtraction_loss_is_right_through_every_path():
    task = fi.ModularArithmetic(13, op="sub", frac_train=0.5)
    model = fi.planted_mlp(13, [2, 5], op="sub")  # an exact a - b model: its loss is tiny
    x = task.inputs
    expected = F.cross_entropy(model(x).detach().double(), task.labels)
    assert float(expected) < 1e-3
    loss, _ = model.run_with_cache(x, return_type="loss")
    torch.testing.assert_close(loss, expected)
    torch.testing.assert_close(model.readout(model(x), x, "loss"), expected)
    assert fi.accuracy(model, task) == 1.0
    metrics = fi.evaluate(model, task)
    assert metrics["train_loss"] < 1e-3 and metrics["test_acc"] == 1.0
    # the transformer's forward(return_type="loss") asks the task recorded in its config
    tf = fi.HookedTransformer(fi.TransformerConfig(**task.config_fields(), d_model=16, n_heads=2, d_head=8, d_mlp=32))
    torch.testing.assert_close(tf(x, return_type="loss"), F.cross_entropy(tf(x).double(), task.labels))
    # and the training loss is the task's: a few steps from a planted start keep it tiny
    history = fi.train(model, task, fi.TrainConfig(steps=2, lr=1e-5, eval_every=1, weight_decay=0.0))
    assert history.records[-1]["train_loss"] < 1e-3


def test_model_task_mismatch_is_one_clear_error():
    add_model = fi.planted_mlp(13, [2])
    with pytest.raises(fi.InvalidArgumentError, match="op='add'.*a1 - a2 mod 13"):
        fi.accuracy(add_model, fi.ModularArithmetic(13, op="sub"))
    s3 = fi.GroupTask(groups.symmetric(3))
    z6 = fi.HookedMLP(fi.MLPConfig(p=6, k=2))
    with pytest.raises(fi.InvalidArgumentError, match="task.config_fields"):
        fi.evaluate(z6, s3)
    with pytest.raises(fi.InvalidArgumentError, match="order 6, but p=7"):
        fi.MLPConfig(p=7, group="symmetric(3)")
    with pytest.raises(fi.InvalidArgumentError, match="frequencies of Z_p"):
        fi.analyze_frequencies(fi.memorizing_mlp(task=s3), s3)


def test_multiplication_model_loss_asks_its_task():
    task = fi.ModularArithmetic(7, op="mul")
    table = fi.memorizing_mlp(task=task)  # a lookup table of a * b mod 7
    assert table.cfg.p == 6 and table.cfg.op == "mul"
    loss, _ = table.run_with_cache(task.inputs, return_type="loss")
    torch.testing.assert_close(loss, F.cross_entropy(table(task.inputs).double(), task.labels))
    assert float(loss.detach()) < 1e-3 and fi.accuracy(table, task) == 1.0


def test_group_models_save_and_load_with_their_task(tmp_path):
    task = fi.GroupTask(groups.dihedral(5), frac_train=0.4, seed=2)
    model = fi.HookedMLP(fi.MLPConfig(**task.config_fields(), form="embed_relu", d_embed=8, d_hidden=16))
    model.save(tmp_path / "d5", task=task)
    loaded, again = fi.load(tmp_path / "d5", with_task=True)
    assert again == task and loaded.cfg.group == "dihedral(5)" and loaded.cfg.op == "compose"
    torch.testing.assert_close(loaded(task.inputs), model(task.inputs))


@pytest.mark.parametrize("family", ["transformer", "rnn", "mlp"])
def test_every_family_trains_on_a_group_task(family):
    task = fi.GroupTask(groups.dihedral(4), k=3, frac_train=0.5)  # sequential composition of 3 elements
    fields = task.config_fields()
    model = {
        "transformer": lambda: fi.HookedTransformer(fi.TransformerConfig(**fields, d_model=16, n_heads=2, d_head=8,
                                                                         d_mlp=32)),
        "rnn": lambda: fi.HookedRNN(fi.RNNConfig(**fields, d_embed=8, d_hidden=32)),
        "mlp": lambda: fi.HookedMLP(fi.MLPConfig(**fields, form="embed_relu", d_embed=8, d_hidden=32)),
    }[family]()
    history = fi.train(model, task, fi.TrainConfig(steps=60, lr=1e-2, weight_decay=0.0, eval_every=30, progress=False))
    first, last = history.records[0], history.records[-1]
    assert last["train_loss"] < first["train_loss"]
    loss, _ = model.run_with_cache(task.inputs, return_type="loss")
    torch.testing.assert_close(loss.detach(), F.cross_entropy(model(task.inputs).detach().double(), task.labels))
