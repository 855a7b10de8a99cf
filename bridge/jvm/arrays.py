"""numpy <-> INDArray in bulk: one native memcpy each way, no per-element Python work."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

from ..errors import DataError, java_boundary, java_errors
from .process import jclass

__all__ = ["to_indarray", "to_numpy", "is_indarray", "require_float_array", "require_finite", "as_float32"]

if TYPE_CHECKING:
    INDArray = Any  # org.nd4j.linalg.api.ndarray.INDArray, a JPype proxy

# numpy dtype -> ND4J DataType name. Both sides use the same bit layout for each pair.
_ND4J_TYPES = {
    np.dtype(np.float64): "DOUBLE",
    np.dtype(np.float32): "FLOAT",
    np.dtype(np.float16): "HALF",
    np.dtype(np.int64): "LONG",
    np.dtype(np.int32): "INT",
    np.dtype(np.int16): "SHORT",
    np.dtype(np.int8): "BYTE",
    np.dtype(np.uint64): "UINT64",
    np.dtype(np.uint32): "UINT32",
    np.dtype(np.uint16): "UINT16",
    np.dtype(np.uint8): "UBYTE",
    np.dtype(np.bool_): "BOOL",
}
_NUMPY_TYPES = {name: dtype for dtype, name in _ND4J_TYPES.items()}


@java_boundary("to_indarray")
def to_indarray(array, out=None, copy: bool = True) -> INDArray:
    """Copy a numpy array (any shape, C/F order or strided) into a new INDArray of the same dtype.

    out: an existing C-ordered INDArray (not a view) of the same shape and dtype to copy into;
    reusing one avoids allocating (and page-faulting) fresh native memory on every call.

    copy=False wraps numpy's memory instead (zero copy, no ND4J allocation): the INDArray reads and
    writes the numpy array's memory and keeps the array alive until the INDArray is collected. It needs a
    writable, C- or F-contiguous, non-empty float32/float64/int32/int64 array (what ND4J's CPU backend
    can wrap); anything else raises DataError. Writes through either side show in both.

    Supported dtypes: float64/32/16, int64/32/16/8, uint64/32/16/8, bool. A C- or F-contiguous
    array is copied once, natively; anything else is made C-contiguous by numpy first.
    """
    array = np.asarray(array)
    if array.dtype.newbyteorder("=") not in _ND4J_TYPES:
        raise DataError(
            f"Received an array of dtype {array.dtype}, which ND4J has no type for. "
            f"Supported: {', '.join(sorted(str(d) for d in _ND4J_TYPES))}."
        )
    if not copy:
        if out is not None:
            raise DataError("to_indarray: pass either out= (copy into it) or copy=False (wrap), not both.")
        return _wrap(array)
    if not array.dtype.isnative:
        array = array.astype(array.dtype.newbyteorder("="))
    if array.flags.f_contiguous and not array.flags.c_contiguous:
        order = "f"
    else:
        order = "c"
        array = array if array.flags.c_contiguous else array.copy(order="C")  # ascontiguousarray turns 0-d into 1-d
    import jpype
    import jpype.nio

    ndarrays = jclass("ai.dl4jbridge.train.Ndarrays")  # starts the JVM if needed, before any JPype call
    # convertToDirectBuffer needs a writable, non-empty buffer; an empty array crosses as 0 bytes.
    source = array if array.flags.writeable else array.copy(order="K")
    buffer = jpype.nio.convertToDirectBuffer(
        source.reshape(-1, order="A").view(np.uint8) if source.size else np.zeros(0, np.uint8)
    )
    shape = jpype.JArray(jpype.JLong)(list(array.shape))
    with java_errors("to_indarray"):
        if out is not None:
            return _copy_into_indarray(buffer, array, out)
        return ndarrays.fromBuffer(buffer, _ND4J_TYPES[array.dtype], shape, order)


@java_boundary("to_numpy")
def to_numpy(indarray, copy: bool = True, out: np.ndarray | None = None) -> np.ndarray:
    """Copy an INDArray (any order, views included) into a new C-ordered numpy array of its dtype.

    out: an existing C-contiguous, writable array of the same shape and dtype to copy into
    (reusing a buffer avoids the page faults of fresh memory: the copy then runs at memcpy speed).

    copy=False returns a zero-copy numpy view of the INDArray's native memory instead (the numpy
    array keeps the INDArray alive); it needs a C-ordered INDArray that is not itself a view, and
    writes through it change the INDArray.
    """
    if not is_indarray(indarray):
        raise DataError(f"to_numpy expects an org.nd4j INDArray, received {type(indarray).__name__}.")
    import jpype.nio

    with java_errors("to_numpy"):
        dtype_name = str(indarray.dataType().name())
        if dtype_name not in _NUMPY_TYPES:
            raise DataError(f"INDArray dtype {dtype_name} has no numpy equivalent.")
        shape = tuple(int(d) for d in indarray.shape())
        dtype = _NUMPY_TYPES[dtype_name]
        if not copy:
            return _view(indarray, shape, dtype)
        if out is None and len(shape) and _is_plain(indarray, int(np.prod(shape, dtype=np.int64))):
            # numpy copies out of a view of ND4J's memory at np.copy speed; a Java-side memcpy into fresh
            # numpy pages measured 8x slower (BENCHMARKS.md, boundary).
            return _memory_view(indarray, shape, dtype).copy()
        if out is None:
            out = np.empty(shape, dtype=dtype)
        elif out.shape != shape or out.dtype != dtype or not out.flags.c_contiguous or not out.flags.writeable:
            raise DataError(
                f"`out` must be a writable C-contiguous {dtype} array of shape {shape}; "
                f"received {out.dtype} {out.shape} (C-contiguous: {out.flags.c_contiguous})."
            )
        if out.size:
            jclass("ai.dl4jbridge.train.Ndarrays").copyInto(
                indarray, jpype.nio.convertToDirectBuffer(out.reshape(-1).view(np.uint8))
            )
    return out


_WRAPPABLE = (np.dtype(np.float32), np.dtype(np.float64), np.dtype(np.int32), np.dtype(np.int64))


def _wrap(array: np.ndarray):
    """A zero-copy INDArray over `array`'s memory. JPype's direct buffer does not keep `array` alive; a Java
    proxy holding it does, and Ndarrays.wrapBuffer keeps the proxy until the INDArray's data buffer is collected."""
    import jpype
    import jpype.nio

    if array.dtype not in _WRAPPABLE or not array.dtype.isnative:
        raise DataError(
            f"to_indarray(copy=False) wraps float32, float64, int32 and int64 arrays (what ND4J's CPU backend "
            f"can wrap, in native byte order); received {array.dtype}. Use copy=True."
        )
    if array.ndim == 0 or array.size == 0:
        raise DataError(
            f"to_indarray(copy=False) needs a non-empty array of at least 1 dimension; received shape {array.shape}."
        )
    if not array.flags.writeable:
        raise DataError("to_indarray(copy=False) needs a writable array (ND4J may write through it); use copy=True.")
    if not (array.flags.c_contiguous or array.flags.f_contiguous):
        raise DataError(
            "to_indarray(copy=False) needs a C- or F-contiguous array; use copy=True or np.ascontiguousarray."
        )
    order = "c" if array.flags.c_contiguous else "f"
    ndarrays = jclass("ai.dl4jbridge.train.Ndarrays")  # starts the JVM if needed, before any JPype call
    buffer = jpype.nio.convertToDirectBuffer(array.reshape(-1, order="A").view(np.uint8))
    shape = jpype.JArray(jpype.JLong)(list(array.shape))
    with java_errors("to_indarray"):
        owner = jpype.JProxy("java.lang.Runnable", inst=_MemoryOwner(array))
        return ndarrays.wrapBuffer(buffer, _ND4J_TYPES[array.dtype], shape, order, owner)


class _MemoryOwner:
    """Holds a wrapped numpy array for as long as Java references this object's proxy."""

    def __init__(self, array: np.ndarray):
        self.array = array

    def run(self):
        """Java's Cleaner calls this once the INDArray is gone; dropping the proxy then frees the array."""


def _copy_into_indarray(buffer, array: np.ndarray, out):
    if not is_indarray(out):
        raise DataError(f"`out` must be an INDArray, received {type(out).__name__}.")
    shape = tuple(int(d) for d in out.shape())
    plain = not out.isView() and str(out.ordering()) == "c" and int(out.data().length()) == array.size
    if shape != array.shape or str(out.dataType().name()) != _ND4J_TYPES[array.dtype] or not plain:
        raise DataError(
            f"`out` must be a C-ordered, non-view {_ND4J_TYPES[array.dtype]} INDArray of shape "
            f"{array.shape}; received {out.dataType().name()} {shape}."
        )
    if array.size:
        if not array.flags.c_contiguous:
            raise DataError("to_indarray(out=...) needs C-ordered input; pass np.ascontiguousarray(a).")
        pointer = jclass("org.bytedeco.javacpp.Pointer")
        pointer.memcpy(out.data().addressPointer(), jclass("org.bytedeco.javacpp.BytePointer")(buffer), array.nbytes)
    return out


class _NativeMemory:
    """Exposes an INDArray's memory through numpy's array interface and keeps the INDArray alive."""

    def __init__(self, indarray, address: int, shape: tuple, dtype: np.dtype):
        self.indarray = indarray
        self.__array_interface__ = {"data": (address, False), "shape": shape, "typestr": dtype.str, "version": 3}


def _view(indarray, shape: tuple, dtype: np.dtype) -> np.ndarray:
    length = int(np.prod(shape, dtype=np.int64))
    if length == 0:
        return np.empty(shape, dtype=dtype)
    if not _is_plain(indarray, length):
        raise DataError(
            "to_numpy(copy=False) needs a C-ordered INDArray that is not a view "
            f"(this one: order {indarray.ordering()}, view {bool(indarray.isView())}); use copy=True."
        )
    return _memory_view(indarray, shape, dtype)


def _memory_view(indarray, shape: tuple, dtype: np.dtype) -> np.ndarray:
    """numpy view of a plain INDArray's native memory (see _is_plain); keeps the INDArray alive."""
    address = int(indarray.data().address()) + int(indarray.offset()) * dtype.itemsize
    return np.asarray(_NativeMemory(indarray, address, shape, dtype))


def _is_plain(indarray, length: int) -> bool:
    """C-ordered, not a view, its buffer holding exactly its elements, with C strides: its memory is the array.
    The strides matter: a permuted INDArray (DL4J's NHWC outputs) reports order 'c', no view and a full
    buffer, yet its memory holds the elements in the order before the permute."""
    return (
        length > 0
        and not indarray.isView()
        and str(indarray.ordering()) == "c"
        and int(indarray.data().length()) == length
        and _has_c_strides(indarray)
    )


def _has_c_strides(indarray) -> bool:
    shape, strides = [int(d) for d in indarray.shape()], [int(s) for s in indarray.stride()]
    expected = 1
    for size, stride in zip(reversed(shape), reversed(strides)):
        if size != 1 and stride != expected:
            return False
        expected *= size
    return True


def is_indarray(obj) -> bool:
    try:
        return isinstance(obj, jclass("org.nd4j.linalg.api.ndarray.INDArray"))
    except TypeError:
        return False


def require_float_array(x, name: str = "x") -> np.ndarray:
    """x itself if it is a float32/float64 numpy array; else DataError saying how to convert it."""
    if not isinstance(x, np.ndarray):
        raise DataError(f"Expected {name} as a numpy array, received {type(x).__name__}.")
    if x.dtype not in (np.float32, np.float64):
        raise DataError(
            f"Expected {name} of dtype float32 (float64 is converted), received {x.dtype}. "
            f"Images in 0..255 should be scaled first: {name}.astype(np.float32) / 255."
        )
    return x


def require_finite(x: np.ndarray, name: str = "x", original: np.ndarray | None = None) -> np.ndarray:
    """x itself when every value is finite; DataError naming `name` and the first bad index otherwise.

    Check the array in the dtype that will be used: a float64 1e300 is finite, and inf once cast to float32.
    original: the array before that cast, to say when a value overflowed rather than was NaN/inf already."""
    finite = np.isfinite(x)
    if not finite.all():
        first = tuple(int(i) for i in np.argwhere(~finite)[0])
        why = ""
        if original is not None and np.isfinite(original[first]):
            why = (
                f" after the cast to float32 (values beyond +-3.4e38 overflow to infinity; e.g. {float(original[first]):g} "
                f"at {first})"
            )
        raise DataError(
            f"{name} holds {int((~finite).sum())} NaN or infinite value(s){why}, the first at index "
            f"{first}; they are refused."
        )
    return x


def as_float32(x: np.ndarray, name: str = "x") -> np.ndarray:
    """x as a C-contiguous float32 array whose values are all finite (checked after the cast); DataError if not."""
    with np.errstate(over="ignore", invalid="ignore"):
        cast = np.ascontiguousarray(x, dtype=np.float32)
    return require_finite(cast, name, original=x if x.dtype != np.float32 else None)
