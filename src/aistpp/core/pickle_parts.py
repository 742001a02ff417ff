"""The parts of the restricted unpickler (``aistpp.core.safe_pickle``) that turn what a pickle
asks for into objects: stand-ins that only record a file's arguments, and the builders that
make numpy arrays, scalars, dtypes and scipy sparse matrices from validated parts, then
replace the stand-ins in the loaded object (iteratively, checking depth, cycles and size).
"""

from __future__ import annotations

import math
import pickle
import re
from typing import Any

import numpy as np

MAX_DEPTH = 64  # nesting of containers in a loaded object (real files: < 10)
MAX_NDIM = 32
BUDGET_PER_BYTE = 4  # the loaded object's tree size (and copies made while loading) per file byte


class _Refused(pickle.UnpicklingError):
    pass


class _Budget:
    def __init__(self, nbytes: int):
        self.left = BUDGET_PER_BYTE * nbytes + (1 << 20)

    def charge(self, amount: int, what: str = "data") -> None:
        self.left -= int(amount)
        if self.left < 0:
            raise _Refused(f"{what} larger than the file can hold (shared references or a size bomb)")


# ---- stand-ins: record what the file asks for; built (validated) after loading -------------
class _Stub:
    def __init__(self, *args):  # REDUCE/NEWOBJ of a stub class with arguments
        if args:
            raise _Refused(f"{type(self).__name__} takes no arguments")

    def __setstate__(self, state: Any) -> None:
        self.state = state


class _NdarrayMarker:
    """What the file's ``numpy.ndarray`` global resolves to: an argument of ``_reconstruct`` only."""


class _ArrayStub(_Stub):
    """``_reconstruct(ndarray, shape, typecode)`` + BUILD, or ``_frombuffer(buf, dtype, shape, order)``."""

    parts: tuple | None = None


class _DtypeStub(_Stub):
    spec: Any = None


class _ScalarStub(_Stub):
    dtype: Any = None
    raw: Any = None


class _ChumpyArray(_Stub):
    """Stand-in for ``chumpy.ch.Ch`` and friends: keeps the pickled state only."""


class _SparseStub(_Stub):
    kind = ""


_SPARSE_NAMES = ("csr_matrix", "csc_matrix", "coo_matrix", "csr_array", "csc_array", "coo_array")
_SPARSE_STUBS = {n: type(f"_Sparse_{n}", (_SparseStub,), {"kind": n}) for n in _SPARSE_NAMES}


def _reconstruct(cls, shape=None, typecode=None) -> _ArrayStub:
    if cls is not _NdarrayMarker:
        raise _Refused("numpy _reconstruct of something other than ndarray")
    return _ArrayStub()


def _frombuffer(buf, dtype, shape, order="C") -> _ArrayStub:
    stub = _ArrayStub()
    stub.parts = (1, shape, dtype, order == "F", buf)
    return stub


def _dtype(spec, align=False, copy=True) -> _DtypeStub:
    stub = _DtypeStub()
    stub.spec = spec
    return stub


def _scalar(dtype, raw=None) -> _ScalarStub:
    stub = _ScalarStub()
    stub.dtype, stub.raw = dtype, raw
    return stub


# ---- building arrays from validated parts ----------------------------------------------------
_DTYPE_SPEC = re.compile(r"^([<>|=]?)([biufcSU])(\d{1,7})$")
_SIZES = {"b": (1,), "i": (1, 2, 4, 8), "u": (1, 2, 4, 8), "f": (2, 4, 8), "c": (8, 16)}


def _as_bytes(raw: Any, what: str) -> bytes:
    if isinstance(raw, bytes | bytearray | memoryview):
        return bytes(raw)
    if isinstance(raw, str):  # Python 2 str read with latin1
        return raw.encode("latin1")
    if isinstance(raw, pickle.PickleBuffer):
        return bytes(raw.raw())
    raise _Refused(f"{what}: data is a {type(raw).__name__}, not bytes")


def _int(value: Any, what: str, lo: int = 0, hi: int = 1 << 62) -> int:
    if isinstance(value, bool) or not isinstance(value, int | np.integer):
        raise _Refused(f"{what} is not an integer")
    value = int(value)
    if not lo <= value <= hi:
        raise _Refused(f"{what} {value} out of range")
    return value


def _build_dtype(stub: Any) -> np.dtype:
    """A plain numeric (or fixed-width text) dtype from a ``numpy.dtype`` stand-in, or refuse."""
    if not isinstance(stub, _DtypeStub) or not isinstance(stub.spec, str):
        raise _Refused("array dtype is not a plain dtype")
    m = _DTYPE_SPEC.match(stub.spec)
    if not m:
        raise _Refused(f"dtype {stub.spec[:20]!r} is not allowed (numbers and fixed-width text only)")
    order, kind, size = m.group(1), m.group(2), int(m.group(3))
    state = getattr(stub, "state", None)
    if state is not None:
        if not isinstance(state, tuple) or len(state) not in (8, 9) or state[0] not in (3, 4):
            raise _Refused("unknown dtype state")
        _, order2, subarray, names, fields, elsize, alignment, flags = state[:8]
        if subarray is not None or names is not None or fields is not None or state[8:] not in ((), (None,), ({},)):
            raise _Refused("structured or sub-array dtypes are not allowed")
        if order2 not in ("<", ">", "|", "="):
            raise _Refused("dtype byte order is not <, >, | or =")
        order = order2
    if kind in _SIZES and size not in _SIZES[kind]:
        raise _Refused(f"dtype {kind}{size} has a non-standard size")
    dt = np.dtype(f"{order if order in '<>' else '='}{kind}{size}")
    if state is not None:
        if elsize != -1 and _int(elsize, "dtype item size") != dt.itemsize:
            raise _Refused("dtype item size does not match its type")
        if alignment != -1 and _int(alignment, "dtype alignment") != dt.alignment:
            raise _Refused("dtype alignment does not match its type")
        if _int(flags, "dtype flags", 0, 255) != dt.flags:
            raise _Refused("dtype flags are not allowed")
    return dt


def _build_array(stub: _ArrayStub, budget: _Budget) -> np.ndarray:
    parts = stub.parts if stub.parts is not None else getattr(stub, "state", None)
    if not isinstance(parts, tuple) or len(parts) not in (4, 5):
        raise _Refused("array without valid state")
    if len(parts) == 5:
        parts = parts[1:]
    shape, dtype, fortran, raw = parts
    if not isinstance(shape, tuple | list) or len(shape) > MAX_NDIM:
        raise _Refused("array shape is not a short tuple")
    shape = tuple(_int(s, "array dimension", 0, 1 << 48) for s in shape)
    dt = _build_dtype(dtype)
    raw = _as_bytes(raw, "array")
    count = math.prod(shape)
    if count * dt.itemsize != len(raw):
        raise _Refused(f"array of shape {shape} and item size {dt.itemsize} does not match its {len(raw)} bytes")
    budget.charge(len(raw) // 4 + 1, "array")
    arr = np.frombuffer(raw, dtype=dt, count=count).reshape(shape, order="F" if fortran else "C")
    return arr.copy(order="K")


def _build_scalar(stub: _ScalarStub) -> np.generic:
    dt = _build_dtype(stub.dtype)
    raw = _as_bytes(stub.raw, "numpy scalar")
    if len(raw) != dt.itemsize:
        raise _Refused("numpy scalar does not match its dtype's size")
    return np.frombuffer(raw, dtype=dt, count=1)[0].copy()


def _index_array(value: Any, what: str) -> np.ndarray:
    if not isinstance(value, np.ndarray) or value.dtype.kind not in "iu" or value.ndim != 1:
        raise _Refused(f"sparse matrix '{what}' is not a 1-D integer array")
    return value.astype(np.int64)


def _build_sparse(stub: _SparseStub, state: Any, budget: _Budget):
    import scipy.sparse as sp

    if not isinstance(state, dict):
        raise _Refused("sparse matrix without a state dict")
    shape = state.get("_shape", state.get("shape"))
    if not isinstance(shape, tuple) or len(shape) != 2:
        raise _Refused("sparse matrix shape is not two integers")
    rows, cols = (_int(s, "sparse matrix dimension", 0, (1 << 31) - 1) for s in shape)
    data = state.get("data")
    if not isinstance(data, np.ndarray) or data.ndim != 1 or data.dtype.kind not in "biufc":
        raise _Refused("sparse matrix data is not a 1-D numeric array")
    if data.dtype == np.float16:  # scipy's sparse kernels have no float16
        data = data.astype(np.float32)
    budget.charge(rows * cols * data.dtype.itemsize // 4, "sparse matrix (dense size)")
    nnz = len(data)
    cls = getattr(sp, stub.kind)
    if stub.kind.startswith("coo"):
        coords = state.get("coords", (state.get("row"), state.get("col")))
        if not isinstance(coords, tuple) or len(coords) != 2:
            raise _Refused("sparse matrix coordinates are not (row, col)")
        row, col = _index_array(coords[0], "row"), _index_array(coords[1], "col")
        if len(row) != nnz or len(col) != nnz:
            raise _Refused("sparse matrix coordinates and data differ in length")
        if nnz and (row.min() < 0 or row.max() >= rows or col.min() < 0 or col.max() >= cols):
            raise _Refused("sparse matrix coordinates outside its shape")
        return cls((data.copy(), (row, col)), shape=(rows, cols))
    major, minor = (rows, cols) if stub.kind.startswith("csr") else (cols, rows)
    indptr, indices = _index_array(state.get("indptr"), "indptr"), _index_array(state.get("indices"), "indices")
    if len(indptr) != major + 1 or indptr[0] != 0 or indptr[-1] != nnz or len(indices) != nnz:
        raise _Refused("sparse matrix indptr does not match its shape and data")
    if np.any(np.diff(indptr) < 0):
        raise _Refused("sparse matrix indptr is not non-decreasing")
    if nnz and (indices.min() < 0 or indices.max() >= minor):
        raise _Refused("sparse matrix indices outside its shape")
    return cls((data.copy(), indices, indptr), shape=(rows, cols))


# ---- after loading: replace stand-ins, check size and depth, no recursion -------------------
def _children(obj: Any) -> list | None:
    """The objects inside ``obj`` (None for a leaf)."""
    if isinstance(obj, dict):
        return list(obj.values())
    if isinstance(obj, list | tuple):
        return list(obj)
    if isinstance(obj, _ChumpyArray | _SparseStub):
        state = getattr(obj, "state", None)
        return list(state.values()) if isinstance(state, dict) else [state]
    return None


def _leaf(obj: Any, budget: _Budget) -> tuple[Any, int]:
    """A leaf's final value and its weight (size units)."""
    if isinstance(obj, _ArrayStub):
        arr = _build_array(obj, budget)
        return arr, arr.nbytes // 4 + 1
    if isinstance(obj, _ScalarStub):
        return _build_scalar(obj), 1
    if isinstance(obj, _DtypeStub):
        return _build_dtype(obj), 1
    if isinstance(obj, str | bytes | bytearray):
        return obj, len(obj) // 4 + 1
    if isinstance(obj, set | frozenset):
        return obj, len(obj) + 1
    if isinstance(obj, int | float | complex | bool | slice | type(None)):
        return obj, 1
    if obj is object or type(obj) is object:
        raise _Refused("a bare object")
    raise _Refused(f"unexpected {type(obj).__name__} in a pickle")


def _rebuild(obj: Any, kids: list) -> Any:
    """``obj`` with its children replaced by their final values ``kids``."""
    if isinstance(obj, dict):
        return dict(zip(obj.keys(), kids))
    if isinstance(obj, list):
        return kids
    if isinstance(obj, tuple):
        return tuple(kids)
    state = getattr(obj, "state", None)
    final = dict(zip(state.keys(), kids)) if isinstance(state, dict) else (kids[0] if kids else None)
    if isinstance(obj, _ChumpyArray):
        for key in ("x", "_x", "a", "r"):
            if isinstance(final, dict) and isinstance(final.get(key), np.ndarray):
                return final[key]
        raise _Refused("a chumpy object without array data")
    return final  # sparse: built by the caller


def _finish(root: Any, budget: _Budget) -> Any:
    """Build the final object from the loaded one, iteratively, memoised per object (shared
    references stay shared), refusing cycles, depth beyond ``MAX_DEPTH`` and a tree weight
    beyond the budget."""
    done: dict[int, tuple[Any, int]] = {}  # id -> (final value, tree weight)
    active: set[int] = set()
    keep = []  # the loaded objects stay alive while their ids are keys
    stack: list[tuple[Any, int, bool]] = [(root, 0, False)]
    tree_budget = budget.left
    while stack:
        obj, depth, expanded = stack.pop()
        oid = id(obj)
        if expanded:
            kids = _children(obj)
            final = _rebuild(obj, [done[id(k)][0] for k in kids])
            if isinstance(obj, _SparseStub):
                final = _build_sparse(obj, final, budget)
            weight = 1 + sum(done[id(k)][1] for k in kids)
            if weight > tree_budget:
                raise _Refused("the loaded object is far larger than the file (shared references, a size bomb)")
            done[oid] = (final, weight)
            active.discard(oid)
            continue
        if oid in done:
            continue
        if oid in active:
            raise _Refused("a reference cycle")
        kids = _children(obj)
        keep.append(obj)
        if kids is None:
            done[oid] = _leaf(obj, budget)
            continue
        if depth >= MAX_DEPTH:
            raise _Refused(f"nested more than {MAX_DEPTH} levels deep")
        active.add(oid)
        stack.append((obj, depth, True))
        stack.extend((k, depth + 1, False) for k in kids)
    return done[id(root)][0]
