"""A restricted unpickler: numpy arrays, numpy scalars and dtypes, scipy sparse matrices and
plain builtins only. Anything else (a pickle that would import or call code) is refused.

AIST++ annotations and SMPL model files are pickles; ``pickle.load`` on them would run
whatever a hostile file asks for. SMPL files often hold ``chumpy`` arrays (chumpy does not
install with current numpy): those load as plain numpy arrays.
"""

from __future__ import annotations

import io
import pickle
from pathlib import Path
from typing import Any

import numpy as np

from aistpp.errors import AistppError

_NUMPY_ALLOWED = {
    # numpy 1.x / 2.x names of the array and scalar reconstructors.
    ("numpy.core.multiarray", "_reconstruct"): np._core.multiarray._reconstruct,
    ("numpy._core.multiarray", "_reconstruct"): np._core.multiarray._reconstruct,
    ("numpy.core.multiarray", "scalar"): np._core.multiarray.scalar,
    ("numpy._core.multiarray", "scalar"): np._core.multiarray.scalar,
    ("numpy.core.numeric", "_frombuffer"): np._core.numeric._frombuffer,
    ("numpy._core.numeric", "_frombuffer"): np._core.numeric._frombuffer,
    ("numpy", "ndarray"): np.ndarray,
    ("numpy", "dtype"): np.dtype,
    ("numpy.dtypes", None): None,  # any numpy.dtypes.*DType class, resolved below
}

_BUILTINS_ALLOWED = {
    "set", "frozenset", "slice", "complex", "bytearray", "bytes", "str", "int", "float",
    "bool", "tuple", "list", "dict", "object", "range",
}  # fmt: skip


class _ChumpyArray:
    """Stand-in for ``chumpy.ch.Ch`` and friends: keeps the pickled state only."""

    def __setstate__(self, state: Any) -> None:
        self.state = state


def _sparse_class(name: str):
    import scipy.sparse as sp

    cls = getattr(sp, name, None)
    if isinstance(cls, type) and (issubclass(cls, sp.spmatrix) or issubclass(cls, getattr(sp, "sparray", sp.spmatrix))):
        return cls
    return None


class _RestrictedUnpickler(pickle.Unpickler):
    def find_class(self, module: str, name: str):  # noqa: D401 - pickle API
        if (module, name) in _NUMPY_ALLOWED:
            return _NUMPY_ALLOWED[(module, name)]
        if module == "numpy.dtypes" and name.endswith("DType"):
            cls = getattr(np.dtypes, name, None)
            if isinstance(cls, type):
                return cls
        if module in ("builtins", "__builtin__") and name in _BUILTINS_ALLOWED:
            import builtins

            return getattr(builtins, name)
        if module in ("copy_reg", "copyreg") and name == "_reconstructor":
            import copyreg

            return copyreg._reconstructor
        if (module, name) == ("_codecs", "encode"):  # protocol-2 pickles of bytes
            import codecs

            return codecs.encode
        if module == "collections" and name == "OrderedDict":
            import collections

            return collections.OrderedDict
        if module.startswith("scipy.sparse"):
            cls = _sparse_class(name)
            if cls is not None:
                return cls
        if module.startswith("chumpy"):
            return _ChumpyArray
        raise pickle.UnpicklingError(f"refused to load global '{module}.{name}'")


def _chumpy_to_array(obj: _ChumpyArray) -> np.ndarray:
    state = obj.state if isinstance(obj.state, dict) else {}
    for key in ("x", "_x", "a", "r"):
        value = state.get(key)
        if isinstance(value, np.ndarray):
            return value
        if isinstance(value, _ChumpyArray):
            return _chumpy_to_array(value)
    raise pickle.UnpicklingError("a chumpy object without array data")


def _convert(obj: Any) -> Any:
    """Replace chumpy stand-ins by numpy arrays, recursively; refuse object arrays."""
    if isinstance(obj, _ChumpyArray):
        return _chumpy_to_array(obj)
    if isinstance(obj, dict):
        return {k: _convert(v) for k, v in obj.items()}
    if isinstance(obj, list):
        return [_convert(v) for v in obj]
    if isinstance(obj, tuple):
        return tuple(_convert(v) for v in obj)
    if isinstance(obj, np.ndarray) and obj.dtype.hasobject:
        raise pickle.UnpicklingError("numpy object arrays are not allowed")
    return obj


def safe_loads(data: bytes) -> Any:
    """Unpickle ``data`` admitting only arrays, sparse matrices and builtins.

    Raises ``pickle.UnpicklingError`` (or another ``Exception``) on anything else.
    Python 2 pickles (SMPL model files) are read with ``latin1`` strings.
    """
    return _convert(_RestrictedUnpickler(io.BytesIO(data), encoding="latin1").load())


def safe_load(path: str | Path) -> Any:
    """Load a pickle file through the restricted unpickler; errors name the file."""
    path = Path(path)
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise AistppError("file not found", path) from None
    except OSError as exc:
        raise AistppError(f"cannot read file ({exc.strerror})", path) from None
    if not data:
        raise AistppError("empty file, expected a pickle", path)
    try:
        return safe_loads(data)
    except pickle.UnpicklingError as exc:
        raise AistppError(f"not a safe pickle: {exc}", path) from None
    except Exception as exc:  # truncated or corrupt data raise many kinds
        raise AistppError(f"not a readable pickle ({type(exc).__name__}: {exc})", path) from None
