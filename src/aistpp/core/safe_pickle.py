"""A restricted unpickler: numpy arrays and scalars of plain dtypes, scipy sparse matrices
(CSR/CSC/COO) and plain builtins only. Anything else (a pickle that would import or call
code, or that would make numpy or scipy read or write out of bounds) is refused.

AIST++ annotations and SMPL model files are pickles; ``pickle.load`` on them would run
whatever a hostile file asks for. SMPL files often hold ``chumpy`` arrays (chumpy does not
install with current numpy): those load as plain numpy arrays.

How it stays safe (see docs/reliability.md):

- No numpy or scipy code sees the file's values unchecked. numpy's reconstructors and
  ``numpy.dtype`` are replaced by stand-ins that only record their arguments; after loading,
  arrays are built here from validated parts: a dtype of kind b/i/u/f/c/S/U with a standard
  size and byte order and no fields, subarrays or flags, a shape whose size times the item
  size equals the buffer's length. Sparse matrices are built only once their index arrays
  are in range (``indptr`` starting at 0, non-decreasing, ending at ``nnz``; indices below
  the minor dimension; numeric data) and their dense size is within the budget below.
- Work and memory are bounded by the file's size: the pure-Python unpickler is linear in
  the file, builtins that copy (``list``, ``bytes``...) are charged against a budget of
  ``BUDGET_PER_BYTE`` x the file's size (+ 1 MiB), dict keys and set items must be flat
  (no hashing of deep or shared structures), and the loaded object, counted as the tree it
  becomes (shared references counted each time), must fit the same budget and be at most
  ``MAX_DEPTH`` deep. Reference cycles are refused. Files beyond ``MAX_FILE_BYTES`` are refused.
"""

from __future__ import annotations

import io
import math
import pickle
import re
from pathlib import Path
from typing import Any

import numpy as np

from aistpp.errors import AistppError

MAX_FILE_BYTES = 4 << 30  # 4 GiB: the largest pickle read (SMPL files are 40-250 MB)
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


# ---- builtins: only calls whose result is no bigger than their (already loaded) arguments --
_FLAT = (str, bytes, int, float, bool, complex, type(None))


def _is_flat(key: Any) -> bool:
    """A dict key / set item safe to hash: a scalar or a short tuple of scalars."""
    if isinstance(key, _FLAT):
        return True
    return type(key) is tuple and len(key) <= 64 and all(isinstance(k, _FLAT) for k in key)


def _check_flat(items, what: str) -> None:
    for k in items:
        if not _is_flat(k):
            raise _Refused(f"{what} of type {type(k).__name__} (only scalars and flat tuples)")


class _Calls:
    """The callables a pickle may REDUCE, each checking its arguments and charging its result."""

    def __init__(self, budget: _Budget):
        import builtins
        import collections

        b = budget

        def seq_arg(args, name):
            if len(args) > 1 or (args and not isinstance(args[0], (list, tuple, set, frozenset, dict, str, bytes))):
                raise _Refused(f"{name}() of {type(args[0]).__name__ if args else '?'}")
            if args:
                b.charge(len(args[0]), name)

        def text_args(args, name, allow_int=False):
            for a in args:
                if isinstance(a, str | bytes | bytearray):
                    b.charge(len(a) // 4 + 1, name)
                elif isinstance(a, list) and name in ("bytes", "bytearray"):
                    b.charge(len(a), name)
                elif not (allow_int and isinstance(a, int | float)):
                    raise _Refused(f"{name}() of {type(a).__name__}")

        def container(kind):
            def make(*args):
                seq_arg(args, kind.__name__)
                if kind in (set, frozenset) and args:
                    _check_flat(args[0], "set item")
                return kind(*args)
            return make

        def mapping(kind):
            def make(*args, **kwargs):
                if kwargs:
                    raise _Refused("keyword arguments")
                seq_arg(args, kind.__name__)
                if args:
                    pairs = args[0].items() if isinstance(args[0], dict) else args[0]
                    pairs = list(pairs)
                    for p in pairs:
                        if not (isinstance(p, tuple | list) and len(p) == 2):
                            raise _Refused("dict() of something other than pairs")
                    _check_flat([p[0] for p in pairs], "dict key")
                    return kind(pairs)
                return kind()
            return make

        def textual(kind, allow_int=False):
            def make(*args):
                text_args(args, kind.__name__, allow_int)
                return kind(*args)
            return make

        def number(kind):
            def make(*args):
                for a in args:
                    if not (isinstance(a, int | float) or isinstance(a, str) and len(a) <= 400):
                        raise _Refused(f"{kind.__name__}() of {type(a).__name__}")
                return kind(*args)
            return make

        def make_slice(*args):
            if not all(a is None or isinstance(a, int) for a in args):
                raise _Refused("slice() of non-integers")
            return slice(*args)

        def encode(obj, encoding="utf-8", errors="strict"):
            if not isinstance(obj, str) or encoding not in ("latin1", "latin-1", "utf-8", "utf8"):
                raise _Refused("_codecs.encode of something other than text")
            b.charge(len(obj) // 4 + 1, "bytes")
            return obj.encode(encoding, errors)

        def reconstructor(cls, base, state=None):  # copyreg._reconstructor(cls, object, None)
            if base is not object or state is not None or not (isinstance(cls, type) and issubclass(cls, _Stub)):
                raise _Refused("copyreg._reconstructor of a class that is not allowed")
            return cls()

        self.builtins = {
            "set": container(set), "frozenset": container(frozenset), "list": container(list),
            "tuple": container(tuple), "dict": mapping(dict), "bytearray": textual(bytearray),
            "bytes": textual(bytes), "str": textual(str, allow_int=True), "int": number(int),
            "float": number(float), "complex": number(complex), "bool": number(bool),
            "slice": make_slice, "object": builtins.object,
        }  # fmt: skip
        self.ordered_dict = mapping(collections.OrderedDict)
        self.encode = encode
        self.reconstructor = reconstructor
        self.allowed = {id(f) for f in (*self.builtins.values(), self.ordered_dict, encode, reconstructor,
                                        _reconstruct, _frombuffer, _dtype, _scalar)}


_NUMPY_GLOBALS = {
    "_reconstruct": _reconstruct, "scalar": _scalar, "_frombuffer": _frombuffer,
}


class _RestrictedUnpickler(pickle._Unpickler):  # the pure-Python unpickler: each opcode checked
    dispatch = dict(pickle._Unpickler.dispatch)

    def __init__(self, data: bytes, budget: _Budget):
        super().__init__(io.BytesIO(data), encoding="latin1")
        self.budget = budget
        self.calls = _Calls(budget)

    def find_class(self, module: str, name: str):  # noqa: D401 - pickle API
        if module in ("numpy.core.multiarray", "numpy._core.multiarray", "numpy.core.numeric",
                      "numpy._core.numeric") and name in _NUMPY_GLOBALS:
            return _NUMPY_GLOBALS[name]
        if module == "numpy" and name == "ndarray":
            return _NdarrayMarker
        if module == "numpy" and name == "dtype":
            return _dtype
        if module in ("builtins", "__builtin__") and name in self.calls.builtins:
            return self.calls.builtins[name]
        if module in ("copy_reg", "copyreg") and name == "_reconstructor":
            return self.calls.reconstructor
        if (module, name) == ("_codecs", "encode"):  # protocol-2 pickles of bytes
            return self.calls.encode
        if module == "collections" and name == "OrderedDict":
            return self.calls.ordered_dict
        if module.startswith("scipy.sparse") and name in _SPARSE_STUBS:
            return _SPARSE_STUBS[name]
        if module.startswith("chumpy"):
            return _ChumpyArray
        raise _Refused(f"refused to load global '{module}.{name}'")

    # -- opcodes that call, build or hash: only on what is allowed --------------------------
    def _call(self, func, args):
        if not isinstance(args, tuple):
            raise _Refused("call arguments are not a tuple")
        if isinstance(func, type) and issubclass(func, _Stub) or func is object:
            return func(*args)
        if id(func) not in self.calls.allowed:
            raise _Refused(f"call of a {type(func).__name__} object")
        return func(*args)

    def load_reduce(self):
        args = self.stack.pop()
        self.stack[-1] = self._call(self.stack[-1], args)

    dispatch[pickle.REDUCE[0]] = load_reduce

    def load_newobj(self):
        args = self.stack.pop()
        cls = self.stack.pop()
        if not (isinstance(cls, type) and issubclass(cls, _Stub) or cls is object):
            raise _Refused(f"NEWOBJ of {getattr(cls, '__name__', type(cls).__name__)}")
        self.append(cls(*args))

    dispatch[pickle.NEWOBJ[0]] = load_newobj

    def load_newobj_ex(self):
        kwargs = self.stack.pop()
        if kwargs:
            raise _Refused("keyword arguments")
        self.load_newobj()

    dispatch[pickle.NEWOBJ_EX[0]] = load_newobj_ex

    def _instantiate(self, klass, args):  # INST / OBJ (protocol 0/1)
        self.append(self._call(klass, tuple(args)))

    def load_build(self):
        state = self.stack.pop()
        inst = self.stack[-1]
        if not isinstance(inst, _Stub):
            raise _Refused(f"BUILD of a {type(inst).__name__}")
        inst.__setstate__(state)

    dispatch[pickle.BUILD[0]] = load_build

    def _target(self, kind):
        target = self.stack[-1]
        if type(target) is not kind and not (kind is dict and type(target).__name__ == "OrderedDict"):
            raise _Refused(f"items added to a {type(target).__name__}")
        return target

    def load_setitem(self):
        value = self.stack.pop()
        key = self.stack.pop()
        _check_flat((key,), "dict key")
        self._target(dict)[key] = value

    dispatch[pickle.SETITEM[0]] = load_setitem

    def load_setitems(self):
        items = self.pop_mark()
        _check_flat(items[::2], "dict key")
        target = self._target(dict)
        for i in range(0, len(items) - 1, 2):
            target[items[i]] = items[i + 1]

    dispatch[pickle.SETITEMS[0]] = load_setitems

    def load_dict(self):
        items = self.pop_mark()
        _check_flat(items[::2], "dict key")
        self.append({items[i]: items[i + 1] for i in range(0, len(items) - 1, 2)})

    dispatch[pickle.DICT[0]] = load_dict

    def load_additems(self):
        items = self.pop_mark()
        _check_flat(items, "set item")
        self._target(set).update(items)

    dispatch[pickle.ADDITEMS[0]] = load_additems

    def load_frozenset(self):
        items = self.pop_mark()
        _check_flat(items, "set item")
        self.append(frozenset(items))

    dispatch[pickle.FROZENSET[0]] = load_frozenset

    def load_append(self):
        value = self.stack.pop()
        self._target(list).append(value)

    dispatch[pickle.APPEND[0]] = load_append

    def load_appends(self):
        items = self.pop_mark()
        self._target(list).extend(items)

    dispatch[pickle.APPENDS[0]] = load_appends

    def persistent_load(self, pid):
        raise _Refused("persistent references are not allowed")


# ---- building arrays from validated parts ----------------------------------------------------
_DTYPE_SPEC = re.compile(r"^([<>|=]?)([biufcSU])(\d{1,7})$")
_SIZES = {"b": (1,), "i": (1, 2, 4, 8), "u": (1, 2, 4, 8), "f": (2, 4, 8), "c": (8, 16)}


def _as_bytes(raw: Any, what: str) -> bytes:
    if isinstance(raw, bytes | bytearray):
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


def safe_loads(data: bytes) -> Any:
    """Unpickle ``data`` admitting only plain arrays, sparse matrices and builtins.

    Raises ``pickle.UnpicklingError`` (or another ``Exception``) on anything else.
    Python 2 pickles (SMPL model files) are read with ``latin1`` strings.
    """
    budget = _Budget(len(data))
    loaded = _RestrictedUnpickler(bytes(data), budget).load()
    return _finish(loaded, budget)


def safe_load(path: str | Path) -> Any:
    """Load a pickle file through the restricted unpickler; errors name the file."""
    from aistpp.core.files import read_regular_bytes

    path = Path(path)
    data = read_regular_bytes(path, MAX_FILE_BYTES, "pickle")
    if not data:
        raise AistppError("empty file, expected a pickle", path)
    try:
        return safe_loads(data)
    except pickle.UnpicklingError as exc:
        raise AistppError(f"not a safe pickle: {exc}", path) from None
    except MemoryError:
        raise AistppError("not a readable pickle (it asks for more memory than is available)", path) from None
    except RecursionError:
        raise AistppError("not a readable pickle (nested too deeply)", path) from None
    except Exception as exc:  # truncated or corrupt data raise many kinds
        raise AistppError(f"not a readable pickle ({type(exc).__name__}: {exc})", path) from None
