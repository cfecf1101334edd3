"""A streaming XXH3-128 whose state can be saved and resumed in another process.

python-xxhash's ``xxh3_128`` objects cannot be serialised, but its extension
module exports the xxHash C API. Driving that API with ctypes gives hashes
bit-identical to ``xxhash.xxh3_128`` (same library, same code) with a state
dvtool owns: the 568 bytes of ``XXH3_state_t`` before its ``extSecret``
pointer (xxHash 0.8's layout). A snapshot keeps such states at chunk ends so
a later append can resume the data fingerprint where its parent's rows
ended, without decoding them again (docs/performance.md).

:func:`available` checks all of this once per process against
``xxhash.xxh3_128`` (split points, save and restore through bytes); if
anything differs or is missing, callers use plain ``xxhash`` objects and no
state is ever saved.
"""

from __future__ import annotations

import ctypes
import functools
from typing import Any

import numpy as np
import xxhash

__all__ = ["STATE_BYTES", "Xxh3", "available"]

STATE_BYTES = 568  # XXH3_state_t up to (not including) its extSecret pointer, xxHash 0.8
_STRUCT_BYTES = 576


class _Hash128(ctypes.Structure):
    _fields_ = [("low64", ctypes.c_uint64), ("high64", ctypes.c_uint64)]


@functools.cache
def _lib() -> Any:
    import xxhash._xxhash as ext

    if not str(getattr(xxhash, "XXHASH_VERSION", "")).startswith("0.8."):
        raise OSError(f"xxHash {getattr(xxhash, 'XXHASH_VERSION', '?')}: state layout unknown")
    lib = ctypes.CDLL(ext.__file__)
    lib.XXH3_createState.restype = ctypes.c_void_p
    lib.XXH3_createState.argtypes = []
    lib.XXH3_freeState.restype = ctypes.c_int
    lib.XXH3_freeState.argtypes = [ctypes.c_void_p]
    lib.XXH3_128bits_reset.restype = ctypes.c_int
    lib.XXH3_128bits_reset.argtypes = [ctypes.c_void_p]
    lib.XXH3_128bits_update.restype = ctypes.c_int
    lib.XXH3_128bits_update.argtypes = [ctypes.c_void_p, ctypes.c_void_p, ctypes.c_size_t]
    lib.XXH3_128bits_digest.restype = _Hash128
    lib.XXH3_128bits_digest.argtypes = [ctypes.c_void_p]
    lib.XXH3_copyState.restype = None
    lib.XXH3_copyState.argtypes = [ctypes.c_void_p, ctypes.c_void_p]
    return lib


@functools.cache
def _update() -> Any:
    return _lib().XXH3_128bits_update


class Xxh3:
    """XXH3-128 (seed 0) over a stream of buffers; ``state()`` / ``Xxh3(state)`` save and resume it."""

    __slots__ = ("_ptr",)

    def __init__(self, state: bytes | None = None) -> None:
        lib = _lib()
        ptr = lib.XXH3_createState()
        if not ptr:
            raise MemoryError("XXH3_createState")
        self._ptr: int = ptr
        lib.XXH3_128bits_reset(ptr)
        if state is not None:
            if len(state) != STATE_BYTES:
                raise ValueError("not an XXH3 state")
            ctypes.memmove(ptr, state, STATE_BYTES)  # extSecret stays this process's own

    def __del__(self) -> None:
        ptr = getattr(self, "_ptr", None)
        if ptr:
            _lib().XXH3_freeState(ptr)
            self._ptr = 0

    def update(self, data: Any) -> None:
        # The hot path of every fingerprint: one numpy view, no copies for contiguous data.
        view = data if isinstance(data, np.ndarray) else np.frombuffer(data, dtype=np.uint8)
        if not view.flags.c_contiguous:
            view = np.ascontiguousarray(view)
        size = view.nbytes
        if size:
            _update()(self._ptr, view.__array_interface__["data"][0], size)

    def digest(self) -> bytes:
        h = _lib().XXH3_128bits_digest(self._ptr)
        return int(h.high64).to_bytes(8, "big") + int(h.low64).to_bytes(8, "big")

    def state(self) -> bytes:
        return ctypes.string_at(self._ptr, STATE_BYTES)

    def copy(self) -> Xxh3:
        other = Xxh3()
        _lib().XXH3_copyState(other._ptr, self._ptr)
        return other


@functools.cache
def available() -> bool:
    """True when :class:`Xxh3` matches ``xxhash.xxh3_128`` here, saved states included."""
    try:
        # Fixed pseudo-random bytes (numpy.random costs ~10 ms of imports).
        data = bytes((i * 2654435761 >> 13) & 0xFF for i in range(5000))
        for cut in (0, 1, 63, 64, 100, 255, 256, 1023, 1024, 1025, 2049, 4999, 5000):
            h = Xxh3()
            h.update(data[:cut])
            resumed = Xxh3(h.state())
            resumed.update(data[cut:])
            copied = h.copy()
            copied.update(data[cut:])
            expected = xxhash.xxh3_128(data).digest()
            if resumed.digest() != expected or copied.digest() != expected:
                return False
        return Xxh3().digest() == xxhash.xxh3_128(b"").digest()
    except (OSError, AttributeError, ImportError, ValueError, MemoryError):
        return False
