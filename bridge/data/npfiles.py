""".npy and .npz files read as untrusted input: the one reader that load_npz, `dl4j-bridge predict` and NpyStream use.

np.load trusts a file's header: a header declaring (1e11, 784) allocates (or fails with numpy's own MemoryError), a
.npz member holding pickle bytes fails deep inside numpy, and a deflated member declaring gigabytes is inflated in
full before anything is checked. Here, before any array is allocated or inflated:

- the header is parsed as data (magic, version, a bounded Python-literal dict), never unpickled; object dtypes,
  which only pickle can fill, are refused;
- the bytes it declares (shape x itemsize) must be the bytes the file holds: the .npy file's size, or the .npz
  member's declared size, which zipfile then enforces while inflating (with its CRC);
- what is to be allocated must fit `memory_cap()` (half of the memory available), and a deflated member may
  inflate to at most MAX_INFLATION_RATIO times its compressed size once past MAX_UNCHECKED_INFLATED_BYTES
  (real data does not compress 100:1; a zip bomb does);
- an .npz archive must hold only .npy members, each name once.

Every refusal is a DataError naming the file and the problem.
"""

from __future__ import annotations

import ast
import math
import os
import zipfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..errors import DataError

__all__ = ["read_npy", "open_npz", "NpzArchive", "memory_cap", "MAX_INFLATION_RATIO"]

_MAGIC = b"\x93NUMPY"
_MAX_HEADER_BYTES = 1 << 16
MAX_INFLATION_RATIO = 100
MAX_UNCHECKED_INFLATED_BYTES = 64 << 20


def memory_cap() -> int:
    """The most bytes one read may allocate: half of the memory available now (Linux's MemAvailable), else half
    of the physical memory."""
    try:
        with open("/proc/meminfo", encoding="ascii") as handle:
            for line in handle:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024 // 2
    except (OSError, ValueError, IndexError):
        pass
    return os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE") // 2


@dataclass(frozen=True)
class _Header:
    dtype: np.dtype
    shape: tuple[int, ...]
    fortran_order: bool
    offset: int  # where the array's bytes start

    @property
    def nbytes(self) -> int:
        return math.prod(self.shape) * self.dtype.itemsize


def _read_header(handle, source: str) -> _Header:
    """The checked header of the .npy stream `handle` (at its start): DataError for anything np.save would not
    write."""
    magic = handle.read(8)
    if len(magic) < 8 or magic[:6] != _MAGIC:
        raise DataError(f"{source} is not a .npy array (no numpy magic: pickled data or another format).")
    major = magic[6]
    if major not in (1, 2, 3):
        raise DataError(f"{source}: unknown .npy format version {major}.{magic[7]}.")
    width = 2 if major == 1 else 4
    length = int.from_bytes(handle.read(width).ljust(width, b"\xff"), "little")
    if length > _MAX_HEADER_BYTES:
        raise DataError(f"{source}: its .npy header declares {length} bytes (at most {_MAX_HEADER_BYTES}).")
    text = handle.read(length)
    if len(text) != length:
        raise DataError(f"{source}: truncated .npy header.")
    return _parse_header(text, major, 8 + width + length, source)


def _parse_header(text: bytes, major: int, offset: int, source: str) -> _Header:
    def bad(detail: str) -> DataError:
        return DataError(f"{source}: malformed .npy header ({detail}).")

    try:
        fields = ast.literal_eval(text.decode("utf-8" if major == 3 else "latin1"))
    except (ValueError, SyntaxError, MemoryError, RecursionError, UnicodeDecodeError) as exc:
        raise bad(f"{type(exc).__name__}") from None
    if not isinstance(fields, dict) or set(fields) != {"descr", "fortran_order", "shape"}:
        raise bad("expected the keys descr, fortran_order and shape")
    shape, fortran = fields["shape"], fields["fortran_order"]
    if not isinstance(shape, tuple) or not all(type(d) is int and d >= 0 for d in shape) or len(shape) > 32:
        raise bad(f"shape {shape!r} is not a tuple of at most 32 non-negative integers")
    if not isinstance(fortran, bool):
        raise bad("fortran_order is not True or False")
    try:
        dtype = np.lib.format.descr_to_dtype(fields["descr"])
    except (TypeError, ValueError, KeyError) as exc:
        raise bad(f"dtype {fields['descr']!r}: {exc}") from None
    if dtype.hasobject:
        raise DataError(
            f"{source} holds pickled Python objects (dtype {dtype}), which only unpickling could read: refused. "
            "dl4j-bridge does not unpickle data; save numeric arrays."
        )
    return _Header(dtype, shape, fortran, offset)


def _check_fits(source: str, nbytes: int) -> None:
    cap = memory_cap()
    if nbytes > cap:
        raise DataError(
            f"{source} declares {nbytes:,} bytes of arrays, more than the {cap:,} this machine can spare "
            "(half of its available memory): refused before allocating."
        )


def _describe(header: _Header) -> str:
    return f"shape {header.shape} of {header.dtype} ({header.nbytes:,} bytes)"


def _array_from(handle, header: _Header, source: str) -> np.ndarray:
    """Read exactly header.nbytes from `handle` into a new array."""
    array = np.empty(header.shape, header.dtype, order="F" if header.fortran_order else "C")
    view = memoryview(array.reshape(-1, order="A").view(np.uint8)) if array.size else memoryview(b"")
    filled = 0
    try:
        while filled < len(view):
            count = handle.readinto(view[filled:])
            if not count:
                break
            filled += count
    except (OSError, EOFError, zipfile.BadZipFile) as exc:
        raise DataError(f"{source}: its array data cannot be read ({exc}).") from exc
    if filled != header.nbytes:
        raise DataError(f"{source}: truncated: {filled:,} of the {header.nbytes:,} bytes its header declares.")
    return array


def read_npy(path: str | os.PathLike, mmap: bool = False) -> np.ndarray:
    """The array of a .npy file, its header checked against the file's size (and, unless `mmap`, the memory
    cap) before anything is allocated. mmap=True: a read-only memory map instead of a copy."""
    path = Path(path)
    try:
        with open(path, "rb") as handle:
            header = _read_header(handle, str(path))
            held = os.fstat(handle.fileno()).st_size - header.offset
            if held != header.nbytes:
                raise DataError(
                    f"{path}: its header declares {_describe(header)}, but the file holds {held:,} bytes of data: "
                    "truncated or forged."
                )
            if mmap:
                return np.memmap(
                    path, header.dtype, "r", header.offset, header.shape, "F" if header.fortran_order else "C"
                )
            _check_fits(str(path), header.nbytes)
            return _array_from(handle, header, str(path))
    except OSError as exc:
        raise DataError(f"{path} cannot be read ({exc.strerror or exc}).") from exc


class NpzArchive:
    """An .npz archive's arrays by name (np.savez's keys: the member names without .npy), each checked before it
    is inflated. A context manager; open_npz() opens one."""

    def __init__(self, path: str | os.PathLike):
        self.path = Path(path)
        try:
            self._zip = zipfile.ZipFile(self.path)
        except (zipfile.BadZipFile, OSError, ValueError, EOFError) as exc:
            if _starts_with_npy_magic(self.path):
                raise DataError(
                    f"{self.path}: holds a single array (np.save), not an .npz archive of named arrays (np.savez)."
                ) from exc
            raise DataError(f"{self.path} cannot be read as an .npz archive ({exc}).") from exc
        try:
            self._members = self._checked_members()
        except BaseException:
            self._zip.close()
            raise

    def _checked_members(self) -> dict[str, zipfile.ZipInfo]:
        members: dict[str, zipfile.ZipInfo] = {}
        for info in self._zip.infolist():
            if not info.filename.endswith(".npy") or info.is_dir():
                raise DataError(
                    f"{self.path}: member {info.filename!r} is not a .npy array; an .npz archive (np.savez) holds "
                    "only .npy members."
                )
            name = info.filename[: -len(".npy")]
            if name in members:
                raise DataError(f"{self.path}: member {info.filename!r} appears twice (which one counts is unclear).")
            if info.compress_type not in (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED) or info.flag_bits & 1:
                raise DataError(f"{self.path}: member {info.filename!r} is encrypted or uses an unknown compression.")
            members[name] = info
        return members

    @property
    def names(self) -> list[str]:
        return list(self._members)

    def _header(self, name: str) -> _Header:
        info, source = self._members[name], f"{self.path}[{name!r}]"
        if (
            info.compress_type == zipfile.ZIP_DEFLATED
            and info.file_size > MAX_UNCHECKED_INFLATED_BYTES
            and info.file_size > MAX_INFLATION_RATIO * max(info.compress_size, 1)
        ):
            raise DataError(
                f"{source} inflates to {info.file_size:,} bytes from {info.compress_size:,} (more than "
                f"{MAX_INFLATION_RATIO}:1): refused as a zip bomb. Save real data with np.savez, uncompressed."
            )
        try:
            with self._zip.open(info) as handle:
                header = _read_header(handle, source)
        except (zipfile.BadZipFile, OSError, EOFError, NotImplementedError) as exc:
            raise DataError(f"{source} cannot be read ({exc}).") from exc
        if info.file_size != header.offset + header.nbytes:
            raise DataError(
                f"{source}: its header declares {_describe(header)}, but the archive says the member holds "
                f"{info.file_size - header.offset:,} bytes of data: truncated or forged."
            )
        return header

    def read(self, *names: str) -> tuple[np.ndarray, ...]:
        """The arrays named, all headers checked (and their total against the memory cap) before any is read."""
        missing = [n for n in names if n not in self._members]
        if missing:
            raise DataError(f"{self.path} has no array named {', '.join(map(repr, missing))}.")
        headers = [self._header(n) for n in names]
        _check_fits(str(self.path), sum(h.nbytes for h in headers))
        arrays = []
        for name, header in zip(names, headers):
            try:
                with self._zip.open(self._members[name]) as handle:
                    handle.read(header.offset)
                    arrays.append(_array_from(handle, header, f"{self.path}[{name!r}]"))
            except (zipfile.BadZipFile, OSError, EOFError) as exc:
                raise DataError(f"{self.path}[{name!r}] cannot be read ({exc}).") from exc
        return tuple(arrays)

    def close(self) -> None:
        self._zip.close()

    def __enter__(self) -> NpzArchive:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def _starts_with_npy_magic(path: Path) -> bool:
    try:
        with open(path, "rb") as handle:
            return handle.read(len(_MAGIC)) == _MAGIC
    except OSError:
        return False


def open_npz(path: str | os.PathLike) -> NpzArchive:
    """The .npz archive at `path`, its members listed and checked (only .npy members, no name twice)."""
    path = Path(path)
    if not path.is_file():
        raise DataError(f"No .npz file at {path}.")
    return NpzArchive(path)
