import pytest
import torch

import fourier_interp as fi


@pytest.mark.parametrize("p,k", [(5, 1), (7, 2), (5, 3)])
def test_grid_is_lexicographic_and_labels_are_sums(p, k):
    task = fi.ModularArithmetic(p=p, k=k)
    assert task.inputs.shape == (p**k, k) and task.inputs.dtype == torch.long
    # first operand slowest: row index = sum_j a_j p^(k-1-j)
    weights = torch.tensor([p ** (k - 1 - j) for j in range(k)])
    assert torch.equal((task.inputs * weights).sum(-1), torch.arange(p**k))
    assert torch.equal(task.labels, task.inputs.sum(-1) % p)


def test_subtraction():
    task = fi.ModularArithmetic(p=7, k=2, op="sub")
    a, b = task.inputs.T
    assert torch.equal(task.labels, (a - b) % 7)


def test_split_is_disjoint_covering_and_seeded():
    task = fi.ModularArithmetic(p=113, frac_train=0.3, seed=0)
    assert len(task.train_idx) == 3830  # nanda2023: 30% of 12,769
    both = torch.cat([task.train_idx, task.test_idx])
    assert torch.equal(both.sort().values, torch.arange(113**2))
    again = fi.ModularArithmetic(p=113, frac_train=0.3, seed=0)
    other = fi.ModularArithmetic(p=113, frac_train=0.3, seed=1)
    assert torch.equal(task.train_idx, again.train_idx)
    assert not torch.equal(task.train_idx, other.train_idx)


def test_full_training_fraction_leaves_no_test_rows():
    task = fi.ModularArithmetic(p=5, frac_train=1.0)
    assert len(task.train_idx) == 25 and len(task.test_idx) == 0


def test_to_grid_and_round_trip():
    task = fi.ModularArithmetic(p=5, k=3)
    grid = task.to_grid(task.labels)
    assert grid.shape == (5, 5, 5) and grid[1, 2, 4] == (1 + 2 + 4) % 5
    assert fi.ModularArithmetic.from_dict(task.to_dict()) == task
    with pytest.raises(ValueError, match="p\\*\\*k = 125"):
        task.to_grid(torch.zeros(10))


@pytest.mark.parametrize(
    "kwargs,error,match",
    [
        (dict(p=1), ValueError, "p=1"),
        (dict(p=7.0), TypeError, "p must be an int"),
        (dict(p=7, k=0), ValueError, "k=0"),
        (dict(p=7, op="div"), ValueError, "op=.div."),
        (dict(p=9, op="mul"), ValueError, "prime"),
        (dict(p=7, k=3, op="sub"), ValueError, "k=2"),
        (dict(p=7, frac_train=0.0), ValueError, "frac_train=0.0"),
        (dict(p=7, frac_train=1.5), ValueError, "frac_train=1.5"),
        (dict(p=7, frac_train="half"), TypeError, "frac_train"),
    ],
)
def test_bad_arguments_name_the_argument(kwargs, error, match):
    with pytest.raises(error, match=match):
        fi.ModularArithmetic(**kwargs)


def test_an_astronomical_grid_is_refused_at_once():
    """p**k is compared in logs: k = 10**30 must not compute 7**(10**30) first."""
    with pytest.raises(fi.InvalidArgumentError, match="too large a grid"):
        fi.ModularArithmetic(p=7, k=10**30)
    with pytest.raises(fi.InvalidArgumentError, match="too large a grid"):
        fi.GroupTask(fi.groups.symmetric(3), k=10**30)
