"""Finite groups on index tensors, their real irreducible representations and Fourier bases.

Pure maths on tensors (imports nothing of the models or analyses). A :class:`Group` has
``order``, ``name``, ``identity``, vectorised ``compose(a, b)`` and ``inverse(a)`` on element
indices, ``irreps()`` (each an :class:`Irrep` with ``name``, ``dim``, ``matrices``
``[order, d, d]``, real orthogonal) and ``fourier_basis()``: the ``[order, order]``
orthonormal basis of functions on the group built from the irreps' matrix entries
(Peter-Weyl), with ``basis_labels()`` naming the irrep and entry of each row. For
``cyclic(p)`` that basis is :func:`fourier_interp.fourier_basis` row for row.

Families: :func:`cyclic`, :func:`multiplicative` (Z_p^*), :func:`dihedral`,
:func:`symmetric` (n <= 6), :func:`alternating`, :func:`product`; :func:`from_spec`
rebuilds a group from ``group.spec``. See :mod:`.families` for each family's element
indices and irrep names.

Example:
    >>> import torch
    >>> from fourier_interp import groups
    >>> s3 = groups.symmetric(3)
    >>> s3.order, s3.irrep_names
    (6, ['(3)', '(2,1)', '(1,1,1)'])
    >>> basis = s3.fourier_basis()
    >>> basis.shape, s3.basis_labels()[:2]
    (torch.Size([6, 6]), ['(3)[0,0]', '(2,1)[0,0]'])
"""

from .core import Group, Irrep, check_homomorphism, decompose
from .families import (
    MultiplicativeGroup,
    alternating,
    cyclic,
    dihedral,
    from_spec,
    multiplicative,
    primitive_root,
    product,
    symmetric,
)
from .young import partitions

__all__ = [
    "Group",
    "Irrep",
    "MultiplicativeGroup",
    "alternating",
    "check_homomorphism",
    "cyclic",
    "decompose",
    "dihedral",
    "from_spec",
    "multiplicative",
    "partitions",
    "primitive_root",
    "product",
    "symmetric",
]
