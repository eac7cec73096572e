"""Load a pickle without letting it run code.

``pickle.load`` calls whatever callable the file names, so a downloaded pickle can execute
anything. This unpickler resolves only what pose pickles need: numpy arrays, dtypes and scalars,
plus the two helpers protocol-2 pickles (Python 2 era, e.g. mmcv dumps) use to store bytes. Dicts,
lists, tuples, strings and numbers need no lookup. Anything else is refused with a message naming
the file and the class it asked for.
"""
from __future__ import annotations

import _codecs
import collections
import io
import pickle
from pathlib import Path

import numpy as np
from numpy.core import multiarray

from pipeline.errors import InputError


class UnsafePickleError(InputError, ValueError):
    pass


def _latin1_encode(text, encoding="utf-8", errors="strict"):
    """Protocol-2 pickles store bytes as ``_codecs.encode(str, 'latin1')``; only that is allowed."""
    if encoding.replace("-", "").replace("_", "").lower() not in ("latin1", "iso88591"):
        raise UnsafePickleError(f"_codecs.encode with encoding {encoding!r} (only latin1 is allowed)")
    return _codecs.encode(text, encoding, errors)


# (module, name) -> object. numpy 2 writes numpy._core.*, numpy 1 numpy.core.*: both resolve here.
_ALLOWED = {
    ("numpy", "ndarray"): np.ndarray,
    ("numpy", "dtype"): np.dtype,
    ("_codecs", "encode"): _latin1_encode,
    ("builtins", "bytes"): bytes,
    ("__builtin__", "bytes"): bytes,
    ("builtins", "bytearray"): bytearray,
    ("collections", "OrderedDict"): collections.OrderedDict,
}
for _core in ("numpy.core.multiarray", "numpy._core.multiarray"):
    _ALLOWED[(_core, "_reconstruct")] = multiarray._reconstruct
    _ALLOWED[(_core, "scalar")] = multiarray.scalar
for _core in ("numpy.core.numeric", "numpy._core.numeric"):
    _ALLOWED[(_core, "_frombuffer")] = getattr(np.core.numeric, "_frombuffer", None)
_ALLOWED = {k: v for k, v in _ALLOWED.items() if v is not None}


class _RestrictedUnpickler(pickle.Unpickler):
    def __init__(self, file, where: str):
        super().__init__(file, encoding="latin1")  # Python 2 pickles: numpy needs latin1
        self.where = where

    def find_class(self, module, name):
        try:
            return _ALLOWED[(module, name)]
        except KeyError:
            raise UnsafePickleError(
                f"{self.where}: refused to load: the pickle asks for {module}.{name}, and only numpy "
                "arrays, dicts, lists, strings and numbers are loaded (a pickle can run code). Fix: "
                "re-save the file with plain containers and numpy arrays, or convert it with a "
                "trusted script") from None

    def persistent_load(self, pid):
        raise UnsafePickleError(f"{self.where}: refused to load: the pickle uses persistent ids")


def load_pickle(path: str | Path):
    """The object in the pickle file ``path``, or UnsafePickleError / ValueError naming the file."""
    path = Path(path)
    if not path.is_file():
        raise ValueError(f"{path}: pickle not found. Fix: check pose.import.source in params.yaml")
    with open(path, "rb") as f:
        return loads(f.read(), str(path))


def loads(data: bytes, where: str = "<bytes>"):
    try:
        obj = _RestrictedUnpickler(io.BytesIO(data), where).load()
    except UnsafePickleError:
        raise
    except Exception as exc:  # truncated or not a pickle: many exception types
        raise ValueError(f"{where}: not a readable pickle ({type(exc).__name__}: {exc}). Fix: "
                         "download the file again") from None
    _check_arrays(obj, where)
    return obj


def _check_arrays(obj, where: str, depth: int = 0) -> None:
    """Object arrays may hold only allowed objects, but they are refused anyway: no pose format
    needs them and they are how pickles smuggle Python objects through numpy."""
    if depth > 50:
        return
    if isinstance(obj, np.ndarray) and obj.dtype.hasobject:
        raise UnsafePickleError(f"{where}: refused to load: holds a numpy object array (dtype object). "
                                "Fix: store numbers in numeric arrays")
    if isinstance(obj, dict):
        for v in obj.values():
            _check_arrays(v, where, depth + 1)
    elif isinstance(obj, (list, tuple)):
        for v in obj:
            _check_arrays(v, where, depth + 1)
