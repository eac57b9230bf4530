"""The merged view: the image's kept files after every layer, whiteouts applied.

    LayerStream ─read_layer─► LayerDelta ─MergedView.apply─► MergedView ─get/read/files─► catalogers

`read_layer` walks one layer's tar headers once (tarfile, over the forward-only stream of
layers.py), keeps members the catalogers' `KeepPolicy` asks for, and notes whiteouts, opaque
directories and lower entries the layer shadows. Entry names that climb out of the root with `..`
are refused (as Docker refuses them); a tar that ends without its end-of-archive block is
truncated. Both are `ScanFailed`.

    key: normalised path, no leading `/` ("usr/lib/os-release")
    node: File(data, layer digest) | Link(target, layer digest)     (directories are implicit)

Applying a layer (OCI image-spec layer.md), against the lower layers only, in this order:

    1. `dir/.wh..wh..opq`  hides everything lower layers put under `dir` (wherever it sits in the tar)
    2. `dir/.wh.name`      hides `dir/name` and everything under it
    3. an entry of another kind at a kept path hides the lower node (a directory replacing a
       symlink, a file replacing a directory ...)
    4. the layer's kept files and symlinks are added

so whiteouts never hide files of their own layer. An index from every directory to the nodes
beneath it makes steps 1-3 cost the size of what is removed, not the size of the view.

Lookups resolve symlinks in every path component, inside the image root: an absolute target
starts again at the image root, never the host's. More than `max_hops` links (a loop) or a
relative target that climbs above the root is a `ScanFailed`.
"""

from __future__ import annotations

import tarfile
from collections import deque
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Protocol

from dockyard.backends.scanner.layers import ZERO_BLOCK, Budget, LayerStream, size_text
from dockyard.domain.scanning import ScanFailed


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
    if not stream.peek(1) or not _header_ahead(stream, where):
        stream.drain()
        return delta  # an empty layer: no bytes at all, or just end-of-archive blocks
    try:
        tar = tarfile.TarFile(fileobj=stream, mode="r")  # type: ignore[arg-type]
        while True:
            member = tar.next()
            tar.members.clear()  # tarfile keeps every header; we need none after its turn
            if member is None:
                raise ScanFailed(f"{where}: corrupt tar header at offset {stream.tell()}")
            budget.entry()
            _take(member, tar, stream, delta, policy, lower, budget)
            stream.seek(tar.offset)
            if not _header_ahead(stream, where):
                break
    except tarfile.TarError as exc:
        raise ScanFailed(f"{where}: not a valid tar archive ({exc})") from None
    stream.drain()
    return delta


def _header_ahead(stream: LayerStream, where: str) -> bool:
    """True if a member header follows; False at the end-of-archive block; else truncated."""
    block = stream.peek(tarfile.BLOCKSIZE)
    if len(block) < tarfile.BLOCKSIZE:
        raise ScanFailed(f"{where}: tar is truncated (no end-of-archive block)")
    return block != ZERO_BLOCK


def _take(
    member: tarfile.TarInfo,
    tar: tarfile.TarFile,
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
    node = _kept(member, path, tar, stream, delta, policy, budget)
    if node is not None:
        delta.files[path] = node
    elif path and lower.shadows(path, member.isdir()):
        delta.replaced.append(path)


def _kept(
    member: tarfile.TarInfo,
    path: str,
    tar: tarfile.TarFile,
    stream: LayerStream,
    delta: LayerDelta,
    policy: KeepPolicy,
    budget: Budget,
) -> File | Link | None:
    """The node to keep for a member, or None. Devices, fifos and dirs are never kept."""
    if member.isreg():
        cap = policy.file_cap(path)
        return None if cap is None else File(_data(member, tar, stream, cap, budget), delta.digest)
    if member.issym():
        return Link(member.linkname, delta.digest) if policy.keeps_link(path) else None
    if member.islnk() and policy.file_cap(path) is not None:
        # A hard link names an earlier member of this layer; only kept targets can be copied.
        target = delta.files.get(normalize(member.linkname, f"layer {delta.digest}"))
        return File(target.data, delta.digest) if isinstance(target, File) else None
    return None


def _data(
    member: tarfile.TarInfo, tar: tarfile.TarFile, stream: LayerStream, cap: int, budget: Budget
) -> bytes:
    if member.size > cap:
        raise ScanFailed(
            f"{member.name} is {size_text(member.size)}; the limit is {size_text(cap)}"
        )
    budget.keep(member.size)
    if member.issparse():  # rare in layers; tarfile knows how to lay the holes out
        data = tar.extractfile(member).read()  # type: ignore[union-attr]
    else:
        stream.seek(member.offset_data)
        data = stream.read(member.size)
    if len(data) != member.size:
        raise ScanFailed(f"tar is truncated inside {member.name}")
    return data
