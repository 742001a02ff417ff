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
import pickle
from pathlib import Path
from typing import Any

from aistpp.core.pickle_parts import (
    _SPARSE_STUBS, _Budget, _ChumpyArray, _dtype, _finish, _frombuffer, _NdarrayMarker, _reconstruct, _Refused,
    _scalar, _Stub,
)  # fmt: skip
from aistpp.errors import AistppError

MAX_FILE_BYTES = 4 << 30  # 4 GiB: the largest pickle read (SMPL files are 40-250 MB)

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
