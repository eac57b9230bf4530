"""The scanner benchmark's big image: a Debian 12 application image of about N MB of gzip layers.

    layer 1  debian base   25%   os-release, dpkg status (88 packages), dpkg info, libs, docs
    layer 2  apt-get       30%   dpkg status rewritten with 74 more packages, libs, docs
    layer 3  pip install   20%   site-packages: 50 *.dist-info/METADATA (requests 2.25.0 ...),
                                 modules (.py text, .so binaries)
    layer 4  npm install   17%   app/node_modules: 120 package.json (ansi-html 0.0.7, lodash ...)
    layer 5  app            8%   application files

Most bytes are incompressible (random, as compiled code and compressed assets are); about a
tenth of the compressed size is text (docs, .py, .js) that deflates ~3x, so files and entries
come in realistic proportions: many small text files, fewer larger binaries. Layers are gzip
level 6 (what docker, buildkit and containerd write by default). Content depends only on
`seed`, so two seeds give two images that share no blob.

Built with the test suite's offline image helpers (tests/support/images.py, fixture_images.py).
"""

from __future__ import annotations

import random
import sys
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from dockbench.scan_names import DEBIAN_12_BASE, DEBIAN_12_EXTRA, NPM_REAL, PYPI_REAL
from dockbench.servers import REPO_ROOT

if str(REPO_ROOT) not in sys.path:
    sys.path.insert(0, str(REPO_ROOT))

from tests.support import fixture_images as fx
from tests.support.images import (
    Blob,
    Image,
    Layer,
    MediaTypes,
    Symlink,
    build_image,
    compress,
    layer_tar,
)

MB = 1_000_000
LAYERS = (("debian-base", 0.25), ("apt-get", 0.30), ("pip", 0.20), ("npm", 0.17), ("app", 0.08))
TEXT_SHARE = 0.10  # of the compressed bytes
TEXT_RATIO = 3.0  # deflate ratio of the generated text (measured: ~3.1 at level 6)
_WORDS = ["the", "of", "and", "to", "in", "is", "that", "for", "it", "as", "with", "was", "on", "be", "by", "this", "are", "or", "from", "at", "an", "which", "return", "self", "import", "def", "class", "value", "data", "none", "true", "false", "error", "file", "path", "config", "buffer", "length", "index", "result", "string", "object", "module", "package", "version", "install", "library", "function", "argument", "default", "options", "request", "response", "handler", "license", "copyright", "software", "warranty", "permission", "notice", "distributed"]  # fmt: skip


@dataclass(frozen=True)
class BuiltImage:
    image: Image
    entries: int  # tar members, all layers
    uncompressed: int  # tar bytes, all layers

    @property
    def compressed(self) -> int:
        return sum(layer.size for layer in self.image.layers)


def build(total_mb: float, seed: int) -> BuiltImage:
    """The image, about `total_mb` MB (10^6 bytes) of compressed layers."""
    rng = random.Random(seed)
    corpus = " ".join(rng.choices(_WORDS, k=700_000)).encode()  # ~4 MB of text to slice from
    maps = []
    for name, share in LAYERS:
        budget = total_mb * MB * share
        files = _CONTENT[name](rng)
        _fill(files, rng, corpus, name, budget * (1 - TEXT_SHARE), budget * TEXT_SHARE * TEXT_RATIO)
        maps.append(files)
    # zlib releases the GIL: the layers compress in parallel on two cores.
    with ThreadPoolExecutor(2) as pool:
        layers = list(pool.map(_layer, maps))
    return BuiltImage(
        image=build_image(layers),
        entries=sum(_entry_count(files) for files in maps),
        uncompressed=sum(len(layer.tar) for layer in layers),
    )


def _layer(files: dict) -> Layer:
    tar = layer_tar(files)
    return Layer(tar=tar, blob=Blob(MediaTypes.OCI_LAYER["gzip"], compress(tar, "gzip", 6)))


def _entry_count(files: dict) -> int:
    dirs = {p.rsplit("/", k)[0] for p in files for k in range(1, p.count("/") + 1)}
    return len(files) + len(dirs)


# --------------------------------------------------------------------------- filler files

_PLACES = {  # layer -> (binary directory, binary suffix, text directory, text suffix)
    "debian-base": ("usr/lib/x86_64-linux-gnu", ".so.{n}", "usr/share/doc/{pkg}", ""),
    "apt-get": ("usr/lib/x86_64-linux-gnu", ".so.{n}", "usr/share/doc/{pkg}", ""),
    "pip": ("usr/local/lib/python3.11/site-packages/{pkg}", ".cpython-311-x86_64-linux-gnu.so",
            "usr/local/lib/python3.11/site-packages/{pkg}", ".py"),
    "npm": ("app/node_modules/{pkg}/build/Release", ".node", "app/node_modules/{pkg}/lib", ".js"),
    "app": ("app/assets", ".bin", "app/src/{pkg}", ".ts"),
}  # fmt: skip


def _fill(files: dict, rng: random.Random, corpus: bytes, layer: str, binary: float,
          text: float) -> None:  # fmt: skip
    """Add random binaries (log-normal sizes, median 12 KiB) and text files (median 1.5 KiB)
    until each byte budget is spent."""
    bin_dir, bin_suffix, text_dir, text_suffix = _PLACES[layer]
    pkgs = [name for name, *_ in DEBIAN_12_BASE + DEBIAN_12_EXTRA]
    while binary > 0:
        size = int(min(binary, 24 << 20, rng.lognormvariate(9.4, 1.8))) + 1
        directory = bin_dir.format(pkg=rng.choice(pkgs))
        files[f"{directory}/f{len(files)}{bin_suffix.format(n=rng.randint(0, 9))}"] = rng.randbytes(
            size
        )
        binary -= size
    while text > 0:
        size = int(min(text, 512 << 10, rng.lognormvariate(7.3, 1.3))) + 1
        start = rng.randrange(len(corpus) - size)
        directory = text_dir.format(pkg=rng.choice(pkgs))
        files[f"{directory}/t{len(files)}{text_suffix}"] = corpus[start : start + size]
        text -= size


# --------------------------------------------------------------------------- package metadata


def _debs(entries: list[tuple[str, str, str]]) -> list[fx.Deb]:
    return [fx.Deb(name, version, source=source) for name, version, source in entries]


def _base(rng: random.Random) -> dict:
    files: dict = dict(fx.debian12_files(_debs(DEBIAN_12_BASE)))
    for name, *_ in DEBIAN_12_BASE:
        files[f"var/lib/dpkg/info/{name}.list"] = f"/usr/share/doc/{name}\n".encode() * 8
        files[f"var/lib/dpkg/info/{name}.md5sums"] = b"d41d8cd98f00b204e9800998ecf8427e  x\n" * 8
    files["lib64"] = Symlink("usr/lib64")
    return files


def _apt(rng: random.Random) -> dict:
    files: dict = {"var/lib/dpkg/status": fx.dpkg_status(_debs(DEBIAN_12_BASE + DEBIAN_12_EXTRA))}
    for name, *_ in DEBIAN_12_EXTRA:
        files[f"var/lib/dpkg/info/{name}.list"] = f"/usr/share/doc/{name}\n".encode() * 8
    return files


def _pip(rng: random.Random) -> dict:
    files: dict = {}
    site = fx.SITE_PACKAGES
    for name, version in PYPI_REAL:
        info = f"{site}/{name.replace('-', '_')}-{version}.dist-info"
        metadata = fx.REQUESTS_METADATA.replace(b"Name: requests", f"Name: {name}".encode())
        files[f"{info}/METADATA"] = metadata.replace(
            b"Version: 2.25.0", f"Version: {version}".encode()
        )
        files[f"{info}/RECORD"] = f"{name}/__init__.py,,\n".encode()
        files[f"{site}/{name}/__init__.py"] = f"__version__ = '{version}'\n".encode()
    return files


def _npm(rng: random.Random) -> dict:
    files: dict = {"app/package.json": b'{"name": "app", "version": "1.0.0"}'}
    packages = list(NPM_REAL) + [(f"dep-{k}", f"1.{k % 7}.{k % 5}") for k in range(80)]
    for name, version in packages:
        manifest = f'{{"name": "{name}", "version": "{version}", "license": "MIT"}}'
        files[f"app/node_modules/{name}/package.json"] = manifest.encode()
    return files


def _app(rng: random.Random) -> dict:
    return {"app/server.js": b"require('express')().listen(8080)\n"}


_CONTENT = {"debian-base": _base, "apt-get": _apt, "pip": _pip, "npm": _npm, "app": _app}


def write_layout(built: BuiltImage, root: Path) -> Path:
    from tests.support.images import write_layout as write

    return write(root, {"v1": built.image})
