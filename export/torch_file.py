"""Read the tensors of a torch.save'd file without PyTorch, and without running code from it.

torch.save writes a zip archive: `<name>/data.pkl` (a pickle of the object, tensors referring to
storages by key), `<name>/data/<key>` (each storage's raw bytes) and `<name>/byteorder`. Pickle can
call any importable function, so this unpickler resolves only the few names a dict of tensors needs
(OrderedDict, torch._utils' tensor rebuilders and the storage types), to stand-ins of our own;
anything else is refused before it is called.
"""

import collections
import pickle
import zipfile

import numpy as np

_STORAGE_DTYPES = {
    "FloatStorage": np.float32, "DoubleStorage": np.float64, "HalfStorage": np.float16,
    "BFloat16Storage": "bfloat16", "LongStorage": np.int64, "IntStorage": np.int32,
    "ShortStorage": np.int16, "CharStorage": np.int8, "ByteStorage": np.uint8, "BoolStorage": np.bool_,
    "UntypedStorage": np.uint8,
}


class UnsafeFileError(ValueError):
    """The pickle asks for something a file of tensors never needs (it could run code)."""


class _StorageType:
    def __init__(self, name: str) -> None:
        self.dtype = _STORAGE_DTYPES[name]


class _Storage:
    """A storage read on first use from the archive (np.ndarray of its elements)."""

    def __init__(self, archive, key: str, dtype) -> None:
        self.archive, self.key, self.dtype = archive, key, dtype
        self._array = None

    def array(self) -> np.ndarray:
        if self._array is None:
            self._array = self.archive.storage(self.key, self.dtype)
        return self._array


def _rebuild_tensor_v2(storage, storage_offset, size, stride, requires_grad=False, backward_hooks=None,
                       metadata=None):
    flat = storage.array()
    size, stride = tuple(size), tuple(stride)
    if not size:
        return np.array(flat[storage_offset])
    end = storage_offset + sum((n - 1) * s for n, s in zip(size, stride)) + 1
    if min(size) > 0 and (storage_offset < 0 or end > flat.size):
        raise ValueError("a tensor points past the end of its storage")
    base = flat[storage_offset:]
    view = np.lib.stride_tricks.as_strided(base, size, tuple(s * flat.itemsize for s in stride), writeable=False)
    return np.ascontiguousarray(view)


def _rebuild_parameter(data, requires_grad=False, backward_hooks=None, *args):
    return data


_ALLOWED = {
    ("collections", "OrderedDict"): collections.OrderedDict,
    ("torch._utils", "_rebuild_tensor_v2"): _rebuild_tensor_v2,
    ("torch._utils", "_rebuild_parameter"): _rebuild_parameter,
}


class _Archive:
    def __init__(self, zf: zipfile.ZipFile) -> None:
        self.zf = zf
        pickles = [n for n in zf.namelist() if n.endswith("/data.pkl") or n == "data.pkl"]
        if len(pickles) != 1:
            raise ValueError("no data.pkl in the archive")
        self.prefix = pickles[0][: -len("data.pkl")]
        order = self.prefix + "byteorder"
        self.big_endian = order in zf.namelist() and zf.read(order).strip() == b"big"

    def storage(self, key: str, dtype) -> np.ndarray:
        raw = self.zf.read(f"{self.prefix}data/{key}")
        if dtype == "bfloat16":
            bits = np.frombuffer(raw, ">u2" if self.big_endian else "<u2").astype(np.uint32) << 16
            return bits.view(np.float32)
        array = np.frombuffer(raw, np.dtype(dtype).newbyteorder(">" if self.big_endian else "<"))
        return array.astype(np.dtype(dtype).newbyteorder("="), copy=False)


class _RestrictedUnpickler(pickle.Unpickler):
    def __init__(self, file, archive: _Archive) -> None:
        super().__init__(file)
        self.archive = archive
        self.storages = {}

    def find_class(self, module, name):
        if (module, name) in _ALLOWED:
            return _ALLOWED[(module, name)]
        if module == "torch" and name in _STORAGE_DTYPES:
            return _StorageType(name)
        raise UnsafeFileError(f"{module}.{name}")

    def persistent_load(self, pid):
        if not (isinstance(pid, tuple) and len(pid) == 5 and pid[0] == "storage"
                and isinstance(pid[1], _StorageType)):
            raise UnsafeFileError(f"persistent id {str(pid)[:60]}")
        key = str(pid[2])
        if key not in self.storages:
            self.storages[key] = _Storage(self.archive, key, pid[1].dtype)
        return self.storages[key]


def load(path):
    """The object torch.save wrote to `path`, tensors as numpy arrays (bfloat16 as float32).

    Raises UnsafeFileError naming the first global the pickle asks for beyond a tensor dict's needs
    (nothing it names is imported or called), zipfile.BadZipFile / ValueError / pickle errors for
    files that are not torch.save archives.
    """
    with zipfile.ZipFile(path) as zf:
        archive = _Archive(zf)
        with zf.open(archive.prefix + "data.pkl") as f:
            return _RestrictedUnpickler(f, archive).load()
