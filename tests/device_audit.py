"""A CUDA stand-in for machines without a GPU: which tensors would be on the wrong device.

On a CPU every tensor lives on the same device, so code that builds a buffer with
``torch.zeros(n)`` and adds a model's activations into it runs here and fails only on a GPU.
:class:`DeviceAudit` is a ``TorchFunctionMode`` that follows, for every tensor it sees,
where it *would* live if the model were on another device:

* ``device`` tensors: the model's parameters and buffers (:meth:`DeviceAudit.place`), what
  is computed from them, and tensors created or moved with a ``device=`` taken from one of
  them (``torch.zeros(n, device=x.device)``, ``t.to(device_of(model))``);
* ``host`` tensors: created without a ``device=`` (factories, ``torch.tensor``,
  ``torch.from_numpy``), moved with ``.cpu()`` / ``.to("cpu")``, and what is computed from
  them alone.

An operation that meets a device tensor and a host tensor of one or more dimensions (a
zero-dimensional host tensor is a scalar, which CUDA accepts), ``.numpy()`` of a device
tensor, and a CPU ``torch.Generator`` drawing a device tensor are recorded as violations:
each would raise on CUDA. Indexing a device tensor with host indices is allowed (CUDA
allows it). Tensors the audit never saw created (autograd's gradients, tensors made before
it started) carry no mark and never count.
"""

from __future__ import annotations

import traceback
from typing import Any, Iterable, Optional

import torch
from torch import Tensor, nn
from torch.overrides import TorchFunctionMode
from torch.utils.weak import WeakIdKeyDictionary

HOST, DEVICE = "host", "device"

FACTORIES = {
    "zeros", "ones", "empty", "full", "arange", "linspace", "logspace", "eye", "tensor", "as_tensor",
    "randperm", "randint", "randn", "rand", "from_numpy", "asarray", "scalar_tensor", "tril_indices", "triu_indices",
}
MOVES = {"to", "cpu", "type_as", "cuda"}
# reads that give no tensor (or give the host a copy): nothing to check or mark
PASSIVE = {"data_ptr", "untyped_storage", "size", "dim", "numel", "__len__", "__repr__", "__format__", "__bool__",
           "__float__", "__int__", "__index__", "item", "tolist", "element_size", "is_floating_point", "__hash__",
           "__deepcopy__", "__reduce_ex__", "__setstate__", "_typed_storage"}
# allowed across devices (copies and moves) or single-tensor: checked by neither rule
NO_CHECK = PASSIVE | MOVES | {"copy_", "__set__", "__get__", "detach", "clone", "requires_grad_"}
TO_NUMPY = {"numpy", "__array__"}


def _name(func: Any) -> str:
    if getattr(func, "__name__", None) == "__get__" and hasattr(func, "__self__"):
        return "__get__"
    if getattr(func, "__name__", None) == "__set__" and hasattr(func, "__self__"):
        return "__set__"
    return getattr(func, "__name__", str(func))


def _tensors(obj: Any) -> Iterable[Tensor]:
    if isinstance(obj, Tensor):
        yield obj
    elif isinstance(obj, (list, tuple)):
        for o in obj:
            yield from _tensors(o)
    elif isinstance(obj, dict):
        for o in obj.values():
            yield from _tensors(o)


def _basic_index(index: Any) -> bool:
    """Only ints, slices, None and Ellipsis: ``t[index] = v`` is then a ``copy_`` (any devices)."""
    items = index if isinstance(index, tuple) else (index,)
    return all(isinstance(i, (int, slice, type(None), type(Ellipsis))) for i in items)


class DeviceAudit(TorchFunctionMode):
    """Record every operation that would mix devices if the tracked models were on a GPU.

    Example:
        >>> audit = DeviceAudit()
        >>> layer = nn.Linear(3, 2)
        >>> with audit:
        ...     audit.place(layer)
        ...     out = layer(torch.ones(4, 3, device=layer.weight.device))
        ...     buffer = torch.zeros(4, 2).add_(out)   # a host buffer meets a device tensor
        >>> [v.split(":")[0] for v in audit.violations]
        ['add_']
    """

    def __init__(self):
        super().__init__()
        self.tags: WeakIdKeyDictionary = WeakIdKeyDictionary()
        self.device_tags: dict[int, str] = {}
        self._devices: list[torch.device] = []  # keeps every tagged torch.device alive (ids stay unique)
        self.violations: list[str] = []

    # ---------------------------------------------------------------- marking
    def place(self, *objects: Any) -> None:
        """Mark modules' parameters and buffers, or tensors, as living on the device."""
        for obj in objects:
            if isinstance(obj, nn.Module):
                for t in [*obj.parameters(), *obj.buffers()]:
                    self.tags[t] = DEVICE
            else:
                for t in _tensors(obj):
                    self.tags[t] = DEVICE

    def _tag(self, t: Tensor) -> Optional[str]:
        return self.tags.get(t)

    def _device_tag(self, device: Any) -> Optional[str]:
        """Where a ``device=`` argument points: a device read off a tensor says which; a fresh one is the host."""
        if device is None or str(device) == "meta":  # shape-only tensors hold no data: on no device at all
            return None
        if isinstance(device, torch.device):
            known = self.device_tags.get(id(device))
            if known is not None:
                return known
            return HOST if device.type == "cpu" else DEVICE
        if isinstance(device, str):
            return HOST if device.startswith("cpu") else DEVICE
        if isinstance(device, int):
            return DEVICE
        return None

    # --------------------------------------------------------------- the mode
    def _violation(self, name: str, why: str) -> None:
        frames = [f for f in traceback.extract_stack()[:-3] if "fourier_interp" in f.filename]
        where = f"{frames[-1].filename.split('fourier_interp/')[-1]}:{frames[-1].lineno}" if frames else "?"
        chain = " <- ".join(f"{f.filename.split('fourier_interp/')[-1]}:{f.lineno}" for f in frames[-4:][::-1])
        entry = f"{name}: {why} at {where} ({chain})"
        if entry not in self.violations:
            self.violations.append(entry)

    def __torch_function__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        name = _name(func)
        inputs = list(_tensors(args)) + list(_tensors(kwargs))
        if any(t.is_meta for t in inputs) or str(kwargs.get("device")) == "meta":
            return func(*args, **kwargs)  # shape-only tensors (memory estimates, skeleton builds) live on no device
        tags = [self._tag(t) for t in inputs]
        self._check(name, func, args, kwargs, inputs, tags)
        out = func(*args, **kwargs)
        return self._mark(name, func, args, kwargs, inputs, tags, out)

    def _check(self, name, func, args, kwargs, inputs, tags) -> None:
        if name in TO_NUMPY and tags and tags[0] == DEVICE:
            self._violation(name, "a device tensor converted to numpy (CUDA tensors cannot be)")
            return
        if name in NO_CHECK:
            return
        if name in FACTORIES or name.endswith("_like") or name.startswith("new_"):
            target = self._device_tag(kwargs.get("device"))
            if kwargs.get("generator") is not None and target == DEVICE:
                self._violation(name, "a CPU torch.Generator draws a device tensor")
            return
        if name == "__getitem__":
            # a device tensor may be indexed with host indices; a host tensor not with device ones
            if tags and tags[0] == HOST and any(t == DEVICE for t in tags[1:]):
                self._violation(name, "a host tensor indexed with device indices")
            return
        if name == "__setitem__":
            self_tag, index, value = tags[0] if tags else None, args[1], args[2] if len(args) > 2 else None
            index_tags = [self._tag(t) for t in _tensors(index)]
            if self_tag == HOST and DEVICE in index_tags:
                self._violation(name, "a host tensor indexed with device indices")
            if isinstance(value, Tensor) and value.ndim > 0 and not _basic_index(index):
                vt = self._tag(value)
                if {vt, self_tag} == {HOST, DEVICE}:
                    self._violation(name, f"a {vt} tensor written into a {self_tag} tensor by advanced indexing")
            return
        has_device = any(t == DEVICE for t in tags)
        host_arrays = [t for t, tag in zip(inputs, tags) if tag == HOST and t.ndim > 0]
        if has_device and host_arrays:
            shapes = [tuple(t.shape) for t in host_arrays]
            self._violation(name, f"device tensor meets host tensor(s) of shape {shapes}")

    def _mark(self, name, func, args, kwargs, inputs, tags, out):
        if name == "__get__":
            if isinstance(out, torch.device) and tags and tags[0] is not None:
                self.device_tags[id(out)] = tags[0]
                self._devices.append(out)
                return out
            target = tags[0] if tags else None
        elif name in MOVES:
            target = self._move_target(name, args, kwargs, tags)
        elif name in FACTORIES or name.endswith("_like") or name.startswith("new_"):
            target = self._device_tag(kwargs.get("device"))
            if target is None:
                inherited = [t for t in tags if t is not None]
                if name.endswith("_like") or name.startswith("new_") or (name in ("tensor", "as_tensor", "asarray") and inherited):
                    target = inherited[0] if inherited else None
                else:
                    target = HOST
        elif name in TO_NUMPY or name in PASSIVE or name in ("copy_", "__set__"):
            return out
        else:
            target = DEVICE if DEVICE in tags else HOST if HOST in tags else None
        if target is None:
            return out
        outs = list(_tensors(out))
        if name in MOVES and isinstance(out, Tensor) and inputs and out is inputs[0] and tags[0] != target:
            out = out.clone()  # a real move makes a new tensor: do not re-mark the original
            outs = [out]
        for t in outs:
            self.tags[t] = target
        return out

    def _move_target(self, name, args, kwargs, tags) -> Optional[str]:
        if name == "cpu":
            return HOST
        if name == "cuda":
            return DEVICE
        if name == "type_as":
            return tags[1] if len(tags) > 1 else None
        device = kwargs.get("device")
        for a in args[1:]:
            if isinstance(a, (str, torch.device)):
                device = a
            elif isinstance(a, Tensor):
                return self._tag(a)
        target = self._device_tag(device)
        return target if target is not None else (tags[0] if tags else None)
