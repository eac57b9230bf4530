"""The merged view: the image's kept files after every layer, whiteouts applied.

    LayerStream ─read_layer─► LayerDelta ─MergedView.apply─► MergedView ─get/read/files─► catalogers
    key: normalised path ("usr/lib/os-release")   node: File(data, layer) | Link(target, layer)

`read_layer` walks a layer's tar headers once (`members`, a small ustar/GNU/PAX reader over the
forward-only stream of layers.py), keeps what the catalogers' `KeepPolicy` asks for, and notes
whiteouts, opaque directories and lower entries the layer shadows. Names that climb out of the
root with `..` are refused (as Docker refuses them), and so is a tar without its end block.

Applying a layer (OCI image-spec layer.md), against the lower layers only, in this order:

    1. `dir/.wh..wh..opq`  hides everything lower layers put under `dir` (wherever it sits in the tar)
    2. `dir/.wh.name`      hides `dir/name` and everything under it
    3. an entry of another kind at a kept path hides the lower node (a directory replacing a
       symlink, a file replacing a directory ...)
    4. the layer's kept files and symlinks are added

so whiteouts never hide files of their own layer. An index from every directory to the nodes
beneath it makes steps 1-3 cost the size of what is removed, not the size of the view.

Lookups resolve symlinks in every path component inside the image root (an absolute target
starts again at the image root, never the host's); a loop or a climb above the root fails.
"""

from __future__ import annotations

import struct
import zlib
from collections import deque
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import NamedTuple, Protocol

from dockyard.backends.scanner.layers import ZERO_BLOCK, Budget, LayerStream, MiB, size_text
from dockyard.domain.scanning import ScanFailed

BLOCK = 512
PATH_MAX = 4096  # Linux's limit on a path, symlink targets included


@dataclass(frozen=True, slots=True)
class File:
    data: bytes
    layer: str  # digest of the layer that wrote it


@dataclass(frozen=True, slots=True)
class Link:
    target: str  # verbatim from the tar; resolved inside the image root
    layer: str


@dataclass
class LayerDelta:
    """One layer's effect on the merged view, applied only once the whole layer is read."""

    digest: str
    files: dict[str, File | Link] = field(default_factory=dict)
    whiteouts: list[str] = field(default_factory=list)
    opaque: list[str] = field(default_factory=list)
    replaced: list[str] = field(default_factory=list)  # lower entries this layer shadows


def normalize(name: str, where: str = "") -> str:
    """`./usr//lib/../lib/x` -> `usr/lib/x`; `` for the root; ScanFailed for `..` escapes."""
    if "/." not in "/" + name and "//" not in name:
        return name.strip("/")  # the common case: nothing to fold
    parts: list[str] = []
    for part in name.split("/"):
        if part == "..":
            if not parts:
                raise ScanFailed(f"{where}: entry {name!r} escapes the image root")
            parts.pop()
        elif part not in ("", "."):
            parts.append(part)
    return "/".join(parts)


def _ancestors(path: str) -> Iterator[str]:
    """`a/b/c` -> `a/b`, `a`, then `` (the root)."""
    while path:
        path = path.rpartition("/")[0]
        yield path


class MergedView:
    """Kept files and symlinks of all layers applied so far."""

    def __init__(self, max_hops: int = 40) -> None:
        self.max_hops = max_hops
        self._nodes: dict[str, File | Link] = {}
        self._under: dict[str, set[str]] = {}  # directory -> every node path beneath it

    # ------------------------------------------------------------------ building

    def shadows(self, path: str, is_dir: bool) -> bool:
        """Would an entry at `path` in a new layer hide lower nodes (other than by merging)?"""
        node = self._nodes.get(path)
        if is_dir:
            return node is not None  # a directory merges with one below, but replaces a file
        return node is not None or path in self._under

    def apply(self, delta: LayerDelta) -> None:
        for directory in delta.opaque:
            self._remove_under(directory)
        for path in delta.whiteouts + delta.replaced:
            self._remove(path)
            self._remove_under(path)
        for path, node in delta.files.items():
            self._remove_under(path)  # a file or symlink replacing a lower directory
            self._add(path, node)

    def _add(self, path: str, node: File | Link) -> None:
        if path not in self._nodes:
            for parent in _ancestors(path):
                self._under.setdefault(parent, set()).add(path)
        self._nodes[path] = node

    def _remove(self, path: str) -> None:
        if self._nodes.pop(path, None) is None:
            return
        for parent in _ancestors(path):
            beneath = self._under[parent]
            beneath.discard(path)
            if not beneath:
                del self._under[parent]

    def _remove_under(self, directory: str) -> None:
        for path in list(self._under.get(directory, ())):
            self._remove(path)

    # ------------------------------------------------------------------ reading

    def get(self, path: str) -> File | None:
        """The regular file at `path` after resolving symlinks, or None."""
        node = self._nodes.get(self.resolve(path))
        return node if isinstance(node, File) else None

    def read(self, path: str) -> bytes | None:
        node = self.get(path)
        return None if node is None else node.data

    def nodes(self, paths: Iterable[str]) -> tuple[File | Link | None, ...]:
        """The nodes at exact paths (no symlinks followed), to notice a layer rewriting them."""
        return tuple(self._nodes.get(path) for path in paths)

    def files(self) -> Iterator[tuple[str, File]]:
        """Every regular file, in path order (symlinks are not followed here)."""
        for path in sorted(self._nodes):
            node = self._nodes[path]
            if isinstance(node, File):
                yield path, node

    def resolve(self, path: str) -> str:
        """The symlink-free path `path` names inside the image root."""
        pending = deque(path.split("/"))
        resolved: list[str] = []
        hops = 0
        while pending:
            part = pending.popleft()
            if part in ("", "."):
                continue
            if part == "..":
                if not resolved:
                    raise ScanFailed(f"symlink escapes the image root while resolving {path!r}")
                resolved.pop()
                continue
            resolved.append(part)
            node = self._nodes.get("/".join(resolved))
            if isinstance(node, Link):
                hops += 1
                if hops > self.max_hops:
                    raise ScanFailed(f"too many levels of symbolic links resolving {path!r}")
                if len(node.target) > PATH_MAX:  # else each hop could queue a million parts
                    raise ScanFailed(f"symlink target longer than {PATH_MAX} bytes in {path!r}")
                resolved.pop()
                if node.target.startswith("/"):
                    resolved.clear()  # absolute: from the image root, never the host's
                pending.extendleft(reversed(node.target.split("/")))
        return "/".join(resolved)


# --------------------------------------------------------------------------- reading a layer


class KeepPolicy(Protocol):
    """What the catalogers want from a layer (see catalogers/__init__.py)."""

    def file_cap(self, path: str) -> int | None:
        """The size cap of a regular file to keep, or None to skip it."""
        ...

    def keeps_link(self, path: str) -> bool: ...


def read_layer(
    stream: LayerStream, digest: str, policy: KeepPolicy, lower: MergedView, budget: Budget
) -> LayerDelta:
    """Walk one layer's tar once and return what it changes; the stream is consumed."""
    delta, where = LayerDelta(digest), f"layer {digest}"
    if not (stream.empty_ok and not stream.peek(1)):  # an empty blob is an empty layer
        for member in members(stream, where):
            budget.entry()
            _take(member, stream, delta, policy, lower, budget)
    stream.drain()
    return delta


class Member(NamedTuple):  # a NamedTuple: built for every member, and cheaper than a dataclass
    """One tar member: the fields the reader needs, long names and PAX overrides applied."""

    name: str
    kind: bytes  # typeflag: b"0" file, b"1" hard link, b"2" symlink, b"5" directory ...
    size: int  # bytes of data stored in the archive
    linkname: str
    offset_data: int
    sparse: bool = False

    @property
    def is_file(self) -> bool:
        return self.kind in _FILE_TYPES

    @property
    def is_dir(self) -> bool:  # 5, GNU's D (dumpdir), or an old tar's file type with a "/"
        return self.kind in b"5D" or (self.kind == b"\0" and self.name.endswith("/"))


# The ustar header fields we read: name, size, chksum, typeflag, linkname, magic, prefix
# (mode, ids, mtime, owner names and device numbers are skipped). GNU headers have no prefix.
_USTAR = struct.Struct("100s24x12s12x8sc100s6s82x155s12x")
_FILE_TYPES = frozenset({b"0", b"\0", b"7", b"S"})
_POSIX_MAGIC = b"ustar\0"
_META_CAP = MiB  # PAX records and GNU long names: real ones are tiny


def members(stream: LayerStream, where: str) -> Iterator[Member]:
    """Tar members, in order, until the end-of-archive block.

    A hand-written header reader: tarfile spends its time per member on fields we never read,
    which dominated layers of many small files (benchmarks/README.md, scan_bench.py). ustar, GNU and PAX (`x`; `g` is ignored) headers and
    GNU long names (`L`, `K`) are understood; a missing end-of-archive block is `truncated`.
    Each member's data must be read (or not) before asking for the next.
    """
    pax: dict[str, str] = {}
    long_name = long_link = None
    while True:
        block = stream.read(BLOCK)
        if len(block) < BLOCK:
            raise ScanFailed(f"{where}: tar is truncated (no end-of-archive block)")
        if block == ZERO_BLOCK:
            return
        fields = _header(block, stream.tell() - BLOCK, where)
        kind, size = fields[3], _size(pax, fields[1], where)
        if kind == b"S" and block[482]:  # old GNU sparse: more sparse-map blocks follow
            _skip_sparse_map(stream, where)
        if kind in (b"x", b"g", b"L", b"K"):
            meta = _meta(stream, size, where)
            if kind == b"x":
                pax = _pax(meta, where)
            elif kind != b"g":  # global PAX records only carry defaults we never read
                text = meta.split(b"\0", 1)[0].decode("utf-8", "surrogateescape")
                long_name, long_link = (text, long_link) if kind == b"L" else (long_name, text)
            continue
        member = _member(fields, kind, size, pax, long_name, long_link, stream.tell())
        pax, long_name, long_link = {}, None, None
        yield member
        stream.seek(member.offset_data + _padded(member.size))


def _header(block: bytes, offset: int, where: str) -> tuple[bytes, ...]:
    fields = _USTAR.unpack(block)
    stored = _number(fields[2], where)
    unsigned = _byte_sum(block[:148]) + _byte_sum(block[156:412]) + _byte_sum(block[412:]) + 256
    # Some old tars summed signed chars; tarfile accepts both, and so do we.
    if stored != unsigned and stored != unsigned - 256 * sum(
        b > 127 for b in block[:148] + block[156:]
    ):
        raise ScanFailed(f"{where}: corrupt tar header at offset {offset} (bad checksum)")
    return fields


def _byte_sum(data: bytes) -> int:
    """Sum of up to 256 bytes, from Adler-32's low half (1 + sum mod 65521, which cannot wrap).

    The header checksum (the checksum field itself counted as 8 spaces, hence the 256 above) is
    the hottest loop of a many-file layer, where `sum(block)` alone was a visible cost.
    """
    return (zlib.adler32(data) & 0xFFFF) - 1


def _member(
    fields: tuple[bytes, ...],
    kind: bytes,
    size: int,
    pax: dict[str, str],
    long_name: str | None,
    long_link: str | None,
    offset_data: int,
) -> Member:
    name = pax.get("path") or long_name
    if name is None:
        name = _text(fields[0])
        if fields[5] == _POSIX_MAGIC and fields[6][:1] != b"\0":
            name = f"{_text(fields[6])}/{name}"
    linkname = ""
    if kind in b"12":  # only links use it; decoding it for every member is measurable
        linkname = pax.get("linkpath") or long_link or _text(fields[4])
    sparse = kind == b"S" or (bool(pax) and any(key.startswith("GNU.sparse.") for key in pax))
    return Member(name, kind, size, linkname, offset_data, sparse)


def _size(pax: dict[str, str], field: bytes, where: str) -> int:
    text = pax.get("size")
    if text is None:
        return _number(field, where)
    if not text.isdigit():
        raise ScanFailed(f"{where}: corrupt PAX size {text[:20]!r}")
    return int(text)


def _skip_sparse_map(stream: LayerStream, where: str) -> None:
    """Old GNU sparse headers chain 512-byte map blocks (last byte of the map: more follow)."""
    while True:
        block = stream.read(BLOCK)
        if len(block) < BLOCK:
            raise ScanFailed(f"{where}: tar is truncated inside a sparse map")
        if not block[504]:
            return


def _number(field: bytes, where: str) -> int:
    """Octal digits (NUL or space ended), or GNU base-256 when the top bit is set."""
    if field[:1] and field[0] & 0x80:
        value = int.from_bytes(field, "big") & ~(0x80 << 8 * (len(field) - 1))
        if field[0] == 0xFF:
            raise ScanFailed(f"{where}: negative number in a tar header")
        return value
    digits = field.split(b"\0", 1)[0].strip(b" ")
    try:
        return int(digits, 8) if digits else 0
    except ValueError:
        raise ScanFailed(f"{where}: corrupt tar header (bad number {digits[:20]!r})") from None


def _meta(stream: LayerStream, size: int, where: str) -> bytes:
    if size > _META_CAP:
        raise ScanFailed(f"{where}: a tar extended header is larger than {size_text(_META_CAP)}")
    data = stream.read(_padded(size))
    if len(data) < size:
        raise ScanFailed(f"{where}: tar is truncated inside an extended header")
    return data[:size]


def _pax(data: bytes, where: str) -> dict[str, str]:
    """PAX records: `<length> <key>=<value>\n`, the length counting the whole record."""
    records, pos = {}, 0
    while pos < len(data) and data[pos : pos + 1] != b"\0":
        length = data[pos : pos + 20].partition(b" ")[0]
        if not length.isdigit() or int(length) <= len(length) + 1:
            raise ScanFailed(f"{where}: corrupt PAX header")
        record = data[pos + len(length) + 1 : pos + int(length)]
        key, _, value = record.rstrip(b"\n").partition(b"=")
        records[key.decode("utf-8", "replace")] = value.decode("utf-8", "surrogateescape")
        pos += int(length)
    return records


def _text(field: bytes) -> str:
    return field.split(b"\0", 1)[0].decode("utf-8", "surrogateescape")


def _padded(size: int) -> int:
    return -(-size // BLOCK) * BLOCK


def _take(
    member: Member,
    stream: LayerStream,
    delta: LayerDelta,
    policy: KeepPolicy,
    lower: MergedView,
    budget: Budget,
) -> None:
    """Record one member in the delta if it is kept, a whiteout, or shadows a lower entry."""
    path = normalize(member.name, f"layer {delta.digest}")
    parent, _, name = path.rpartition("/")
    if name.startswith(".wh."):
        if name == ".wh..wh..opq":
            delta.opaque.append(parent)
        else:
            delta.whiteouts.append(f"{parent}/{name[4:]}" if parent else name[4:])
        return
    node = _kept(member, path, stream, delta, policy, budget)
    if node is not None:
        delta.files[path] = node
    elif path and lower.shadows(path, member.is_dir):
        delta.replaced.append(path)


def _kept(
    member: Member,
    path: str,
    stream: LayerStream,
    delta: LayerDelta,
    policy: KeepPolicy,
    budget: Budget,
) -> File | Link | None:
    """The node to keep for a member, or None. Devices, fifos and dirs are never kept."""
    if member.is_file and not member.is_dir:
        cap = policy.file_cap(path)
        return None if cap is None else File(_data(member, stream, cap, budget), delta.digest)
    if member.kind == b"2":
        return Link(member.linkname, delta.digest) if policy.keeps_link(path) else None
    if member.kind == b"1" and policy.file_cap(path) is not None:
        # A hard link names an earlier member of this layer; only kept targets can be copied.
        target = delta.files.get(normalize(member.linkname, f"layer {delta.digest}"))
        return File(target.data, delta.digest) if isinstance(target, File) else None
    return None


def _data(member: Member, stream: LayerStream, cap: int, budget: Budget) -> bytes:
    if member.size > cap:
        raise ScanFailed(
            f"{member.name} is {size_text(member.size)}; the limit is {size_text(cap)}"
        )
    if member.sparse:  # holes would need the sparse map; package databases are never sparse
        raise ScanFailed(f"{member.name} is a sparse file, which the scanner does not read")
    budget.keep(member.size)
    data = stream.read(member.size)
    if len(data) != member.size:
        raise ScanFailed(f"tar is truncated inside {member.name}")
    return data
