"""A restricted unpickler for dataset pickles: plain containers and checked numpy arrays only.

A pickle can call any importable function while it loads. This one resolves no global
but stand-ins: numpy's array reconstruction, `ndarray` and `dtype` as they are named by
the pickles numpy writes, and `_codecs.encode` / `bytes()` as protocol 2 spells bytes.
The stand-ins never call numpy's own machinery on the pickle's word: an array is built
only when its shape, dtype and byte count agree with bytes actually present in the file
(so a 200-byte pickle cannot ask for 2 GB, and no array can read past its buffer), and
only little-endian integer dtypes are allowed.
"""

from __future__ import annotations

import io
import math
import pickle
from typing import IO, Any

import numpy as np

from inceptgen.runtime.data.errors import DataError, one_line

__all__ = ["restricted_load"]

#: The dtypes a dataset pickle may hold (CIFAR: uint8 pixels, integer labels).
_ALLOWED_DTYPES = frozenset({"u1", "i1", "u2", "i2", "u4", "i4", "u8", "i8"})
_MAX_NDIM = 4


class _DtypeStub:
    """`numpy.dtype(name, align, copy)` as a pickle calls it; checked, then turned into a real dtype."""

    def __init__(self, name: Any, align: Any = False, copy: Any = False) -> None:
        name = _text(name)  # Python 2 pickles, read with encoding="bytes", spell it as bytes
        if name not in _ALLOWED_DTYPES:
            raise DataError(f"dtype {one_line(repr(name), 40)} is not allowed in a dataset pickle")
        self.name = name
        self.order = "|"

    def __setstate__(self, state: Any) -> None:
        order = _text(state[1]) if isinstance(state, tuple) and len(state) > 1 else None
        if order not in ("|", "<", "="):
            raise DataError(f"byte order {one_line(repr(order), 20)} is not allowed in a dataset pickle")
        self.order = order

    def dtype(self) -> np.dtype:
        return np.dtype("<" + self.name)


class _ArrayStub:
    """What `_reconstruct(ndarray, shape, typecode)` returns; the array is built from its BUILD state."""

    def __init__(self, *args: Any) -> None:
        self.array: np.ndarray | None = None

    def __setstate__(self, state: Any) -> None:
        if not (isinstance(state, tuple) and len(state) == 5):
            raise DataError("array state is not numpy's (version, shape, dtype, fortran, data)")
        _, shape, dtype, fortran, raw = state
        if not isinstance(dtype, _DtypeStub):
            raise DataError("array dtype is not a plain dtype")
        if not (isinstance(shape, tuple) and len(shape) <= _MAX_NDIM and all(_is_size(d) for d in shape)):
            raise DataError(f"array shape {one_line(repr(shape), 60)} is not a tuple of sizes")
        if not isinstance(raw, bytes | bytearray):
            raise DataError(f"array data must be bytes, got {type(raw).__name__}")
        kind = dtype.dtype()
        needed = math.prod(shape) * kind.itemsize
        if needed != len(raw):
            raise DataError(f"array of shape {shape} needs {needed} bytes of data, the file holds {len(raw)}")
        array = np.frombuffer(bytes(raw), dtype=kind)
        self.array = array.reshape(shape, order="F" if fortran else "C")


def _text(value: Any) -> Any:
    if isinstance(value, bytes) and len(value) <= 8:
        return value.decode("latin-1")
    return value


def _is_size(value: Any) -> bool:
    return type(value) is int and value >= 0


def _reconstruct(cls: Any, shape: Any, typecode: Any) -> _ArrayStub:
    if cls is not _ArrayStub:
        raise DataError("array reconstruction of a type other than ndarray")
    return _ArrayStub()


def _latin1(text: Any, encoding: Any = "latin1") -> bytes:
    """`_codecs.encode(text, "latin1")`: how protocol-2 pickles written by Python 3 spell bytes."""
    if not (isinstance(text, str) and encoding in ("latin1", "latin-1")):
        raise DataError("_codecs.encode is only allowed to spell bytes as latin-1 text")
    return text.encode("latin-1")


def _empty_bytes(*args: Any) -> bytes:
    """`bytes()`: protocol 2's empty bytes (with an argument, `bytes(n)` would allocate n bytes)."""
    if args:
        raise DataError("bytes() is only allowed without arguments")
    return b""


_GLOBALS: dict[tuple[str, str], Any] = {
    ("_codecs", "encode"): _latin1,
    ("__builtin__", "bytes"): _empty_bytes,
    ("builtins", "bytes"): _empty_bytes,
    ("numpy.core.multiarray", "_reconstruct"): _reconstruct,
    ("numpy._core.multiarray", "_reconstruct"): _reconstruct,
    ("numpy", "ndarray"): _ArrayStub,
    ("numpy", "dtype"): _DtypeStub,
}


class _RestrictedUnpickler(pickle.Unpickler):
    """Unpickler that can only rebuild checked numpy arrays and plain containers."""

    def __init__(self, stream: IO[bytes], label: str) -> None:
        super().__init__(stream, encoding="bytes")
        self._label = label

    def find_class(self, module: str, name: str) -> Any:
        allowed = _GLOBALS.get((module, name))
        if allowed is None:
            what = f"{one_line(module)}.{one_line(name)}"
            raise DataError(f"refusing to unpickle {what} from {self._label}: not part of a CIFAR batch")
        return allowed

    def persistent_load(self, pid: Any) -> Any:
        raise DataError(f"refusing to unpickle a persistent id from {self._label}: not part of a CIFAR batch")


def restricted_load(source: bytes | IO[bytes], label: str) -> Any:
    """Unpickle `source` (bytes or a binary stream) with only plain containers and checked arrays.

    Arrays come back as numpy arrays wherever they sit in dicts, lists or tuples.

    Raises:
        DataError: a global other than numpy's array pieces, a bad array, or a corrupt pickle.
    """
    stream = io.BytesIO(source) if isinstance(source, bytes | bytearray) else source
    try:
        loaded = _RestrictedUnpickler(stream, label).load()
    except DataError as err:
        raise DataError(err.message if label in err.message else f"{label}: {err.message}") from None
    except Exception as exc:  # noqa: BLE001 - any failure inside pickle means a bad file
        raise DataError(f"{label}: corrupt or truncated pickle ({type(exc).__name__}: {one_line(exc)})") from None
    return _arrays_in(loaded, label)


def _arrays_in(value: Any, label: str) -> Any:
    """Replace array stand-ins by their arrays (one level of containers is all a dataset pickle has)."""
    if isinstance(value, _ArrayStub):
        if value.array is None:
            raise DataError(f"{label}: an array without data")
        return value.array
    if isinstance(value, dict):
        return {k: _arrays_in(v, label) if isinstance(v, _ArrayStub) else v for k, v in value.items()}
    return value
