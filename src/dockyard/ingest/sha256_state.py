"""A SHA-256 whose state can be saved and resumed in another process.

An upload's running hash lives in the process that received its chunks. When the next chunk or
the final PUT reaches another process (`serve --workers N`, several servers behind a load
balancer), that process had to read the whole upload back from storage to hash it: a second
pass over a 1 GiB layer, from S3 a second download. distribution keeps the same state
("hashstates") beside its uploads for this reason.

Python's hashlib cannot export its state, and the one PyPI package that did (`rehash`) does not
support OpenSSL 3. OpenSSL's own low-level SHA-256 API (`SHA256_Init`/`_Update`/`_Final`,
deprecated in 3.0 but still exported) keeps the whole state in a plain 112-byte struct, which is
what is saved here; the hashing itself is OpenSSL's, at hashlib's speed, with the GIL released.
Where libcrypto or those symbols are missing, `new_sha256()` returns hashlib's hasher, whose
state is simply not saved (`state_of` gives None): uploads then fall back to reading back.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import hashlib
from typing import Any, Protocol


class Sha256(Protocol):
    def update(self, data: Any, /) -> None: ...

    def hexdigest(self) -> str: ...

    def copy(self) -> Sha256: ...


class _Context(ctypes.Structure):
    # SHA256_CTX from <openssl/sha.h>; its layout has not changed since OpenSSL 0.9.8.
    _fields_ = [
        ("h", ctypes.c_uint32 * 8),
        ("Nl", ctypes.c_uint32),
        ("Nh", ctypes.c_uint32),
        ("data", ctypes.c_uint32 * 16),
        ("num", ctypes.c_uint32),
        ("md_len", ctypes.c_uint32),
    ]


STATE_SIZE = ctypes.sizeof(_Context)


def _load_libcrypto() -> Any:
    name = ctypes.util.find_library("crypto")
    if name is None:
        return None
    try:
        lib = ctypes.CDLL(name)
        functions = (lib.SHA256_Init, lib.SHA256_Update, lib.SHA256_Final)
    except (OSError, AttributeError):
        return None
    init, update, final = functions
    init.argtypes = [ctypes.POINTER(_Context)]
    update.argtypes = [ctypes.POINTER(_Context), ctypes.c_void_p, ctypes.c_size_t]
    final.argtypes = [ctypes.c_char_p, ctypes.POINTER(_Context)]
    for function in functions:
        function.restype = ctypes.c_int
    return lib


_LIB = _load_libcrypto()


class ResumableSha256:
    """SHA-256 through OpenSSL's SHA256_CTX; `state()` and `restore()` carry it across."""

    def __init__(self, context: _Context) -> None:
        self._context = context

    @classmethod
    def new(cls) -> ResumableSha256:
        context = _Context()
        _LIB.SHA256_Init(ctypes.byref(context))
        return cls(context)

    @classmethod
    def restore(cls, state: bytes) -> ResumableSha256:
        if len(state) != STATE_SIZE:
            raise ValueError(f"a SHA-256 state is {STATE_SIZE} bytes, not {len(state)}")
        return cls(_Context.from_buffer_copy(state))

    @property
    def hashed(self) -> int:
        """Bytes hashed so far, as the state records them."""
        hashed: int = ((self._context.Nh << 32) | self._context.Nl) // 8  # ctypes fields: Any
        return hashed

    def update(self, data: Any, /) -> None:
        if isinstance(data, bytes):  # ctypes passes a pointer to the bytes' own buffer
            _LIB.SHA256_Update(ctypes.byref(self._context), data, len(data))
            return
        view = memoryview(data).cast("B")
        if view.readonly:  # no pointer into a read-only buffer other than bytes: copy it
            self.update(view.tobytes())
            return
        if view.nbytes:
            buffer = (ctypes.c_char * view.nbytes).from_buffer(view)
            _LIB.SHA256_Update(ctypes.byref(self._context), ctypes.addressof(buffer), view.nbytes)

    def state(self) -> bytes:
        return bytes(self._context)

    def copy(self) -> ResumableSha256:
        return ResumableSha256(_Context.from_buffer_copy(bytes(self._context)))

    def hexdigest(self) -> str:
        # Final() clobbers the context it is given; finish a copy so the hash can go on.
        copy = _Context.from_buffer_copy(bytes(self._context))
        out = ctypes.create_string_buffer(32)
        _LIB.SHA256_Final(out, ctypes.byref(copy))
        return out.raw.hex()


def new_sha256() -> Sha256:
    """A SHA-256 hasher whose state can be saved when this platform allows it."""
    return ResumableSha256.new() if _LIB is not None else hashlib.sha256()


def state_of(hasher: Sha256) -> bytes | None:
    return hasher.state() if isinstance(hasher, ResumableSha256) else None


def resume(state: bytes | None, size: int) -> Sha256 | None:
    """The hasher saved as `state`, if it hashed exactly `size` bytes and can be resumed here."""
    if state is None or _LIB is None:
        return None
    try:
        hasher = ResumableSha256.restore(state)
    except ValueError:
        return None
    return hasher if hasher.hashed == size else None
