"""Reads PyTorch `.pth` state dicts into numpy arrays, without PyTorch and without running code.

A `.pth` file is a pickle, and unpickling an untrusted pickle can run any
code it names. `load_state_dict` unpickles with a restricted unpickler that
resolves exactly four globals (`ALLOWED_GLOBALS`): the ordered dict that
holds the tensors, the function PyTorch rebuilds a tensor with, and the
float and int64 storage types. Anything else (`os.system`, `builtins.eval`,
...) raises `UnsafeWeightsError` before it is imported.

Both layouts PyTorch writes are read:

- legacy (before PyTorch 1.6): a magic number, protocol version and system
  info pickled in a row, then the state-dict pickle, the list of storage
  keys, and each storage as an int64 element count followed by its
  little-endian bytes;
- zip (PyTorch 1.6 and later): `<name>/data.pkl` holds the pickle and
  `<name>/data/<key>` each storage's bytes.

Example:

>>> from dlapps.vision.pytorch_weights import load_state_dict
>>> weights = load_state_dict("efficientnet-lite0.pth")
>>> weights["stem.0.weight"].shape
(32, 3, 3, 3)
"""

import collections
import io
import pickle
import struct
import zipfile

import numpy as np

from dlapps.errors import UserError

LEGACY_MAGIC_NUMBER = 0x1950A86A20F9469CFC6C

# Storage type name -> numpy dtype (PyTorch writes little-endian bytes).
STORAGE_DTYPES = {"FloatStorage": np.dtype("<f4"), "LongStorage": np.dtype("<i8")}

ALLOWED_GLOBALS = {
    ("collections", "OrderedDict"),
    ("torch._utils", "_rebuild_tensor_v2"),
    ("torch", "FloatStorage"),
    ("torch", "LongStorage"),
}


class UnsafeWeightsError(UserError):
    """A weights file names something the restricted unpickler does not allow."""


class _StorageType:
    """Stands in for `torch.FloatStorage` etc.: only its dtype matters."""

    def __init__(self, name):
        self.name = name
        self.dtype = STORAGE_DTYPES[name]


def _rebuild_tensor(storage, storage_offset, size, stride, *unused):
    # Arguments of torch._utils._rebuild_tensor_v2: storage, offset, size,
    # stride, requires_grad, backward_hooks (and metadata in newer files).
    # The storage is a flat numpy array; strides are in elements.
    if not isinstance(storage, np.ndarray):
        raise UnsafeWeightsError("a tensor in the weights file has no storage")
    size, stride = tuple(int(s) for s in size), tuple(int(s) for s in stride)
    if size:
        last = int(storage_offset) + sum((n - 1) * s for n, s in zip(size, stride, strict=True))
        if min(size) > 0 and (last >= storage.size or storage_offset < 0 or min(stride) < 0):
            raise UnsafeWeightsError("a tensor in the weights file reaches outside its storage")
    view = np.lib.stride_tricks.as_strided(
        storage[int(storage_offset) :],
        shape=size,
        strides=tuple(s * storage.itemsize for s in stride),
        writeable=False,
    )
    return np.array(view)  # a contiguous copy, independent of the storage


class _RestrictedUnpickler(pickle.Unpickler):
    """Resolves only `ALLOWED_GLOBALS`; storages come from `storage_loader(key, dtype, numel)`."""

    def __init__(self, file, storage_loader, rebuild_tensor=_rebuild_tensor):
        super().__init__(file)
        self.storage_loader = storage_loader
        self.rebuild_tensor = rebuild_tensor

    def find_class(self, module, name):
        if (module, name) not in ALLOWED_GLOBALS:
            raise UnsafeWeightsError(
                f"refusing to load weights that name {module}.{name}: only a PyTorch state "
                "dict of float and int64 tensors is read (the file may be unsafe or not weights)"
            )
        if (module, name) == ("collections", "OrderedDict"):
            return collections.OrderedDict
        if name == "_rebuild_tensor_v2":
            return self.rebuild_tensor
        return _StorageType(name)

    def persistent_load(self, saved_id):
        # Legacy: ('storage', type, key, location, numel, view_metadata);
        # zip: ('storage', type, key, location, numel).
        if not (isinstance(saved_id, tuple) and saved_id and saved_id[0] == "storage"):
            raise UnsafeWeightsError(f"unexpected persistent id in weights file: {saved_id!r:.60}")
        storage_type, key = saved_id[1], str(saved_id[2])
        if not isinstance(storage_type, _StorageType):
            raise UnsafeWeightsError("a storage in the weights file has an unknown type")
        return self.storage_loader(key, storage_type.dtype, int(saved_id[4]))


def _load_legacy(file):
    # Magic number, protocol version, system info: plain ints and a dict.
    header = [_RestrictedUnpickler(file, None).load() for _ in range(3)]
    if header[0] != LEGACY_MAGIC_NUMBER:
        raise UserError("not a PyTorch weights file (wrong magic number)")
    storages = {}

    def declare(key, dtype, numel):
        # Storage bytes follow the state dict; fill them in after.
        if key not in storages:
            storages[key] = np.empty(numel, dtype)
        return storages[key]

    # Tensors are rebuilt while unpickling, before the bytes are read: keep
    # the arguments and rebuild afterwards.
    pending = []

    def deferred_rebuild(storage, *args):
        pending.append((storage, args))
        return ("__pending__", len(pending) - 1)

    state = _RestrictedUnpickler(file, declare, deferred_rebuild).load()
    keys = _RestrictedUnpickler(file, None).load()
    if not isinstance(keys, list):
        raise UserError("malformed PyTorch weights file: no storage key list")
    for key in keys:
        storage = storages.get(str(key))
        if storage is None:
            raise UserError(f"malformed PyTorch weights file: storage {key} is not used")
        (numel,) = struct.unpack("<q", file.read(8))
        data = file.read(numel * storage.itemsize)
        if numel != storage.size or len(data) != storage.nbytes:
            raise UserError("malformed PyTorch weights file: a storage is truncated")
        storage[:] = np.frombuffer(data, storage.dtype)
    return _resolve(state, [_rebuild_tensor(s, *a) for s, a in pending])


def _resolve(state, tensors):
    if not isinstance(state, dict):
        raise UserError("the PyTorch weights file does not hold a state dict")
    resolved = collections.OrderedDict()
    for name, value in state.items():
        if not (isinstance(value, tuple) and len(value) == 2 and value[0] == "__pending__"):
            raise UserError(f"entry {name!r} of the weights file is not a tensor")
        resolved[str(name)] = tensors[value[1]]
    return resolved


def _load_zip(path_or_file):
    with zipfile.ZipFile(path_or_file) as archive:
        names = archive.namelist()
        pickles = [n for n in names if n.endswith("/data.pkl") or n == "data.pkl"]
        if len(pickles) != 1:
            raise UserError("not a PyTorch weights archive: no single data.pkl in it")
        prefix = pickles[0][: -len("data.pkl")]
        byteorder = f"{prefix}byteorder"
        if byteorder in names and archive.read(byteorder).strip() != b"little":
            raise UserError("big-endian PyTorch weights are not supported")

        def load_storage(key, dtype, numel):
            data = archive.read(f"{prefix}data/{key}")
            if len(data) < numel * dtype.itemsize:
                raise UserError(f"malformed PyTorch weights archive: storage {key} is truncated")
            return np.frombuffer(data, dtype, count=numel)

        state = _RestrictedUnpickler(io.BytesIO(archive.read(pickles[0])), load_storage).load()
    if not isinstance(state, dict) or not all(isinstance(v, np.ndarray) for v in state.values()):
        raise UserError("the PyTorch weights file does not hold a state dict of tensors")
    return collections.OrderedDict((str(k), v) for k, v in state.items())


def load_state_dict(path):
    """Reads a PyTorch state dict (`torch.save(model.state_dict(), path)`) as numpy arrays.

    Args:
        path: a `.pth`/`.pt` file in PyTorch's legacy or zip layout.

    Returns:
        An `OrderedDict` of parameter name -> `np.ndarray` (float32 or int64).

    Raises:
        UnsafeWeightsError: the pickle names a global other than `ALLOWED_GLOBALS`.
        UserError: the file is missing or is not a state dict.
    """
    try:
        if zipfile.is_zipfile(path):
            return _load_zip(path)
        with open(path, "rb") as file:
            return _load_legacy(file)
    except FileNotFoundError:
        raise UserError(f"weights file {path} does not exist") from None
    except (pickle.UnpicklingError, EOFError, struct.error, IndexError, TypeError) as error:
        raise UserError(f"could not read PyTorch weights {path}: {error}") from None
