"""Package names and version histories for the scanner benchmark (deterministic, offline).

    REAL_*            real package names (Debian 12 / Alpine 3.19 base images as they ship, plus
                      commonly installed Debian, Alpine, PyPI and npm packages), versions as in
                      bookworm / Alpine 3.19 where pinned
    Universe(seed)    per ecosystem family: those names plus generated plausible ones
                      ("libfoomux3", "py3-quillet", "django-ravenfold", "@corvid/tessel-js"),
                      each with a sorted history of ~12 versions (its pinned version included)

The OSV records and the inventories of the benchmark both draw from one Universe, so records
name packages that images really contain, at versions on the same history: some images are
before a record's fix (a finding), some after (none), as with real data.
"""

from __future__ import annotations

import random
import re
from dataclasses import dataclass, field

from dockyard.backends.scanner.versions import parse

# --------------------------------------------------------------------------- real names

# debian:12 (bookworm) as shipped: (binary, version, "source" or "source (version)").
DEBIAN_12_BASE = [
    ("adduser", "3.134", ""), ("apt", "2.6.1", ""), ("base-files", "12.4+deb12u5", ""),
    ("base-passwd", "3.6.1", ""), ("bash", "5.2.15-2+b2", "bash (5.2.15-2)"),
    ("bsdutils", "1:2.38.1-5+deb12u1", "util-linux (2.38.1-5+deb12u1)"),
    ("coreutils", "9.1-1", ""), ("dash", "0.5.12-2", ""), ("debconf", "1.5.82", ""),
    ("debian-archive-keyring", "2023.3+deb12u1", ""), ("debianutils", "5.7-0.5~deb12u1", ""),
    ("diffutils", "1:3.8-4", ""), ("dpkg", "1.21.22", ""), ("e2fsprogs", "1.47.0-2", ""),
    ("findutils", "4.9.0-4", ""), ("gcc-12-base", "12.2.0-14", "gcc-12"),
    ("gpgv", "2.2.40-1.1", "gnupg2"), ("grep", "3.8-5", ""), ("gzip", "1.12-1", ""),
    ("hostname", "3.23+nmu1", ""), ("init-system-helpers", "1.65.2", ""),
    ("libacl1", "2.3.1-3", "acl"), ("libapt-pkg6.0", "2.6.1", "apt"),
    ("libattr1", "1:2.5.1-4", "attr"), ("libaudit-common", "1:3.0.9-1", "audit"),
    ("libaudit1", "1:3.0.9-1", "audit"), ("libblkid1", "2.38.1-5+deb12u1", "util-linux"),
    ("libbz2-1.0", "1.0.8-5+b1", "bzip2 (1.0.8-5)"), ("libc-bin", "2.36-9+deb12u4", "glibc"),
    ("libc6", "2.36-9+deb12u4", "glibc"), ("libcap-ng0", "0.8.3-1+b3", "libcap-ng (0.8.3-1)"),
    ("libcap2", "1:2.66-4", ""), ("libcom-err2", "1.47.0-2", "e2fsprogs"),
    ("libcrypt1", "1:4.4.33-2", "libxcrypt"), ("libdb5.3", "5.3.28+dfsg2-1", "db5.3"),
    ("libdebconfclient0", "0.270", "cdebconf"), ("libext2fs2", "1.47.0-2", "e2fsprogs"),
    ("libffi8", "3.4.4-1", "libffi"), ("libgcc-s1", "12.2.0-14", "gcc-12"),
    ("libgcrypt20", "1.10.1-3", ""), ("libgmp10", "2:6.2.1+dfsg1-1.1", "gmp"),
    ("libgnutls30", "3.7.9-2+deb12u2", "gnutls28"), ("libgpg-error0", "1.46-1", "libgpg-error"),
    ("libhogweed6", "3.8.1-2", "nettle"), ("libidn2-0", "2.3.3-1+b1", "libidn2 (2.3.3-1)"),
    ("liblz4-1", "1.9.4-1", "lz4"), ("liblzma5", "5.4.1-0.2", "xz-utils"),
    ("libmd0", "1.0.4-2", "libmd"), ("libmount1", "2.38.1-5+deb12u1", "util-linux"),
    ("libnettle8", "3.8.1-2", "nettle"), ("libp11-kit0", "0.24.1-2", "p11-kit"),
    ("libpam-modules", "1.5.2-6+deb12u1", "pam"), ("libpam-modules-bin", "1.5.2-6+deb12u1", "pam"),
    ("libpam-runtime", "1.5.2-6+deb12u1", "pam"), ("libpam0g", "1.5.2-6+deb12u1", "pam"),
    ("libpcre2-8-0", "10.42-1", "pcre2"), ("libseccomp2", "2.5.4-1+b3", "libseccomp (2.5.4-1)"),
    ("libselinux1", "3.4-1+b6", "libselinux (3.4-1)"), ("libsemanage-common", "3.4-1", "libsemanage"),
    ("libsemanage2", "3.4-1+b5", "libsemanage (3.4-1)"), ("libsepol2", "3.4-2.1", "libsepol"),
    ("libsmartcols1", "2.38.1-5+deb12u1", "util-linux"), ("libss2", "1.47.0-2", "e2fsprogs"),
    ("libssl3", "3.0.11-1~deb12u2", "openssl"), ("libstdc++6", "12.2.0-14", "gcc-12"),
    ("libsystemd0", "252.22-1~deb12u1", "systemd"), ("libtasn1-6", "4.19.0-2", ""),
    ("libtinfo6", "6.4-4", "ncurses"), ("libudev1", "252.22-1~deb12u1", "systemd"),
    ("libunistring2", "1.0-2", "libunistring"), ("libuuid1", "2.38.1-5+deb12u1", "util-linux"),
    ("libxxhash0", "0.8.1-1", "xxhash"), ("libzstd1", "1.5.4+dfsg2-5", "libzstd"),
    ("login", "1:4.13+dfsg1-1+b1", "shadow (1:4.13+dfsg1-1)"), ("logsave", "1.47.0-2", "e2fsprogs"),
    ("mawk", "1.3.4.20200120-3.1", ""), ("mount", "2.38.1-5+deb12u1", "util-linux"),
    ("ncurses-base", "6.4-4", "ncurses"), ("ncurses-bin", "6.4-4", "ncurses"),
    ("passwd", "1:4.13+dfsg1-1+b1", "shadow (1:4.13+dfsg1-1)"),
    ("perl-base", "5.36.0-7+deb12u1", "perl"), ("sed", "4.9-1", ""),
    ("sysvinit-utils", "3.06-4", "sysvinit"), ("tar", "1.34+dfsg-1.2", ""),
    ("tzdata", "2024a-0+deb12u1", ""), ("usr-is-merged", "37~deb12u1", "usrmerge"),
    ("util-linux", "2.38.1-5+deb12u1", ""), ("util-linux-extra", "2.38.1-5+deb12u1", "util-linux"),
    ("zlib1g", "1:1.2.13.dfsg-1", "zlib"),
]  # fmt: skip

# Commonly installed on top of debian:12 (python, node, build and web images).
DEBIAN_12_EXTRA = [
    ("ca-certificates", "20230311", ""), ("curl", "7.88.1-10+deb12u5", ""),
    ("libcurl4", "7.88.1-10+deb12u5", "curl"), ("libnghttp2-14", "1.52.0-1+deb12u1", "nghttp2"),
    ("libssh2-1", "1.10.0-3+b1", "libssh2 (1.10.0-3)"), ("libpsl5", "0.21.2-1", "libpsl"),
    ("libkrb5-3", "1.20.1-2+deb12u1", "krb5"), ("libgssapi-krb5-2", "1.20.1-2+deb12u1", "krb5"),
    ("libkeyutils1", "1.6.3-2", "keyutils"), ("libldap-2.5-0", "2.5.13+dfsg-5", "openldap"),
    ("libsasl2-2", "2.1.28+dfsg-10", "cyrus-sasl2"), ("libbrotli1", "1.0.9-2+b6", "brotli (1.0.9-2)"),
    ("openssl", "3.0.11-1~deb12u2", ""), ("git", "1:2.39.2-1.1", ""),
    ("libexpat1", "2.5.0-1", "expat"), ("libsqlite3-0", "3.40.1-2", "sqlite3"),
    ("libxml2", "2.9.14+dfsg-1.3~deb12u1", ""), ("libxslt1.1", "1.1.35-1", "libxslt"),
    ("libgdbm6", "1.23-3", "gdbm"), ("libreadline8", "8.2-1.3", "readline"),
    ("libncursesw6", "6.4-4", "ncurses"), ("netbase", "6.4", ""), ("wget", "1.21.3-1+b2", "wget (1.21.3-1)"),
    ("gnupg", "2.2.40-1.1", "gnupg2"), ("dirmngr", "2.2.40-1.1", "gnupg2"),
    ("libassuan0", "2.5.5-5", "libassuan"), ("libksba8", "1.6.3-2", "libksba"),
    ("procps", "2:4.0.2-3", ""), ("xz-utils", "5.4.1-0.2", ""), ("unzip", "6.0-28", ""),
    ("libjpeg62-turbo", "1:2.1.5-2", "libjpeg-turbo"), ("libpng16-16", "1.6.39-2", "libpng1.6"),
    ("libfreetype6", "2.12.1+dfsg-5", "freetype"), ("libfontconfig1", "2.14.1-4", "fontconfig"),
    ("libtiff6", "4.5.0-6+deb12u1", "tiff"), ("libwebp7", "1.2.4-0.2+deb12u1", "libwebp"),
    ("libicu72", "72.1-3", "icu"), ("libpq5", "15.6-0+deb12u1", "postgresql-15"),
    ("libmariadb3", "1:10.11.6-0+deb12u1", "mariadb"), ("libyaml-0-2", "0.2.5-1", "libyaml"),
    ("libbsd0", "0.11.7-2", "libbsd"), ("libedit2", "3.1-20221030-2", "libedit"),
    ("libuv1", "1.44.2-1", ""), ("imagemagick-6-common", "8:6.9.11.60+dfsg-1.6+deb12u1", "imagemagick"),
    ("libde265-0", "1.0.11-1+deb12u2", "libde265"), ("libheif1", "1.15.1-1", "libheif"),
    ("libopenjp2-7", "2.5.0-2", "openjpeg2"), ("liblcms2-2", "2.14-2", "lcms2"),
    ("libx11-6", "2:1.8.4-2+deb12u2", "libx11"), ("libxcb1", "1.15-1", "libxcb"),
    ("perl", "5.36.0-7+deb12u1", ""), ("python3.11", "3.11.2-6", ""),
    ("libpython3.11-minimal", "3.11.2-6", "python3.11"), ("binutils", "2.40-2", ""),
    ("gcc-12", "12.2.0-14", ""), ("make", "4.3-4.1", "make-dfsg"), ("patch", "2.7.6-7", ""),
    ("libc6-dev", "2.36-9+deb12u4", "glibc"), ("linux-libc-dev", "6.1.76-1", "linux"),
    ("openssh-client", "1:9.2p1-2+deb12u2", "openssh"), ("vim-common", "2:9.0.1378-2", "vim"),
    ("less", "590-2", ""), ("nginx", "1.22.1-9", ""), ("libgd3", "2.3.3-9", "libgd2"),
    ("libaom3", "3.6.0-1", "aom"), ("libdav1d6", "1.0.0-2", "dav1d"),
    ("libavcodec59", "7:5.1.4-0+deb12u1", "ffmpeg"), ("ghostscript", "10.0.0~dfsg-11+deb12u3", ""),
    ("libcups2", "2.4.2-3+deb12u5", "cups"), ("libjbig0", "2.1-6.1", "jbigkit"),
    ("libharfbuzz0b", "6.0.0+dfsg-3", "harfbuzz"), ("libglib2.0-0", "2.74.6-2", "glib2.0"),
    ("libdbus-1-3", "1.14.10-1~deb12u1", "dbus"), ("libavahi-client3", "0.8-10", "avahi"),
]  # fmt: skip

# alpine:3.19 as shipped: (name, version, origin).
ALPINE_319_BASE = [
    ("alpine-baselayout", "3.4.3-r2", ""), ("alpine-baselayout-data", "3.4.3-r2", "alpine-baselayout"),
    ("alpine-keys", "2.4-r1", ""), ("apk-tools", "2.14.0-r5", ""), ("busybox", "1.36.1-r15", ""),
    ("busybox-binsh", "1.36.1-r15", "busybox"), ("ca-certificates-bundle", "20230506-r0", "ca-certificates"),
    ("libc-utils", "0.7.2-r5", "libc-dev"), ("libcrypto3", "3.1.4-r5", "openssl"),
    ("libssl3", "3.1.4-r5", "openssl"), ("musl", "1.2.4_git20230717-r4", ""),
    ("musl-utils", "1.2.4_git20230717-r4", "musl"), ("scanelf", "1.3.7-r2", "pax-utils"),
    ("ssl_client", "1.36.1-r15", "busybox"), ("zlib", "1.3.1-r0", ""),
]  # fmt: skip

ALPINE_319_EXTRA = [
    ("curl", "8.5.0-r0", ""), ("libcurl", "8.5.0-r0", "curl"), ("nghttp2-libs", "1.58.0-r0", "nghttp2"),
    ("brotli-libs", "1.1.0-r1", "brotli"), ("c-ares", "1.24.0-r1", ""), ("libidn2", "2.3.4-r4", ""),
    ("libunistring", "1.1-r2", ""), ("libpsl", "0.21.5-r0", ""), ("zstd-libs", "1.5.5-r8", "zstd"),
    ("python3", "3.11.8-r0", ""), ("libffi", "3.4.4-r3", ""), ("gdbm", "1.23-r1", ""),
    ("xz-libs", "5.4.5-r0", "xz"), ("libbz2", "1.0.8-r6", "bzip2"), ("mpdecimal", "2.5.1-r2", ""),
    ("ncurses-libs", "6.4_p20231125-r0", "ncurses"), ("readline", "8.2.1-r2", ""),
    ("sqlite-libs", "3.44.2-r0", "sqlite"), ("libgcc", "13.2.1_git20231014-r0", "gcc"),
    ("libstdc++", "13.2.1_git20231014-r0", "gcc"), ("nodejs", "20.12.1-r0", ""),
    ("icu-libs", "74.1-r0", "icu"), ("libuv", "1.47.0-r0", ""), ("ada-libs", "2.7.4-r0", "ada"),
    ("git", "2.43.0-r0", ""), ("pcre2", "10.42-r2", ""), ("libexpat", "2.6.2-r0", "expat"),
    ("libxml2", "2.11.7-r0", ""), ("openssh-client-default", "9.6_p1-r0", "openssh"),
    ("bash", "5.2.21-r0", ""), ("tzdata", "2024a-r0", ""), ("libjpeg-turbo", "3.0.1-r0", ""),
    ("libpng", "1.6.40-r0", ""), ("freetype", "2.13.2-r0", ""), ("fontconfig", "2.14.2-r4", ""),
    ("libwebp", "1.3.2-r0", ""), ("tiff", "4.6.0-r0", ""), ("krb5-libs", "1.21.2-r0", "krb5"),
    ("keyutils-libs", "1.6.3-r3", "keyutils"), ("libssh2", "1.11.0-r1", ""),
    ("nginx", "1.24.0-r15", ""), ("postgresql16-client", "16.2-r0", "postgresql16"),
    ("imagemagick-libs", "7.1.1.26-r0", "imagemagick"), ("ffmpeg-libavcodec", "6.1.1-r0", "ffmpeg"),
    ("libx11", "1.8.7-r0", ""), ("glib", "2.78.4-r0", ""), ("gnutls", "3.8.3-r0", ""),
]  # fmt: skip

PYPI_REAL = [
    ("requests", "2.25.0"), ("urllib3", "1.26.18"), ("idna", "3.6"), ("certifi", "2023.11.17"),
    ("charset-normalizer", "3.3.2"), ("setuptools", "65.5.1"), ("pip", "23.2.1"), ("wheel", "0.42.0"),
    ("six", "1.16.0"), ("python-dateutil", "2.8.2"), ("pyyaml", "6.0.1"), ("jinja2", "3.1.2"),
    ("markupsafe", "2.1.3"), ("click", "8.1.7"), ("flask", "2.2.5"), ("werkzeug", "2.2.3"),
    ("django", "4.2.7"), ("numpy", "1.26.2"), ("pandas", "2.1.4"), ("cryptography", "41.0.7"),
    ("cffi", "1.16.0"), ("pycparser", "2.21"), ("boto3", "1.34.11"), ("botocore", "1.34.11"),
    ("s3transfer", "0.10.0"), ("jmespath", "1.0.1"), ("attrs", "23.1.0"), ("packaging", "23.2"),
    ("pillow", "10.1.0"), ("lxml", "4.9.3"), ("sqlalchemy", "2.0.23"), ("protobuf", "4.25.1"),
    ("grpcio", "1.60.0"), ("aiohttp", "3.9.1"), ("multidict", "6.0.4"), ("yarl", "1.9.4"),
    ("gunicorn", "21.2.0"), ("uvicorn", "0.25.0"), ("starlette", "0.27.0"), ("fastapi", "0.105.0"),
    ("pydantic", "2.5.3"), ("httpx", "0.26.0"), ("tornado", "6.3.3"), ("paramiko", "3.3.1"),
    ("pyjwt", "2.8.0"), ("redis", "5.0.1"), ("celery", "5.3.6"), ("psycopg2-binary", "2.9.9"),
    ("scipy", "1.11.4"), ("tqdm", "4.66.1"),
]  # fmt: skip

NPM_REAL = [
    ("ansi-html", "0.0.7"), ("lodash", "4.17.15"), ("express", "4.18.2"), ("minimist", "1.2.5"),
    ("axios", "0.21.1"), ("follow-redirects", "1.14.7"), ("debug", "4.3.4"), ("ms", "2.1.3"),
    ("qs", "6.11.0"), ("body-parser", "1.20.1"), ("semver", "7.5.2"), ("tough-cookie", "4.1.2"),
    ("moment", "2.29.1"), ("underscore", "1.13.1"), ("async", "3.2.2"), ("glob", "7.2.3"),
    ("minimatch", "3.0.4"), ("chalk", "4.1.2"), ("commander", "9.4.1"), ("yargs", "17.6.2"),
    ("ws", "8.11.0"), ("node-fetch", "2.6.1"), ("json5", "2.2.1"), ("loader-utils", "2.0.2"),
    ("path-to-regexp", "0.1.7"), ("cookie", "0.5.0"), ("send", "0.18.0"), ("serve-static", "1.15.0"),
    ("mime", "1.6.0"), ("uuid", "8.3.2"), ("webpack", "5.75.0"), ("terser", "5.14.1"),
    ("postcss", "8.4.19"), ("nanoid", "3.3.4"), ("jsonwebtoken", "8.5.1"), ("xml2js", "0.4.23"),
    ("word-wrap", "1.2.3"), ("decode-uri-component", "0.2.0"), ("y18n", "4.0.0"), ("ini", "1.3.5"),
]  # fmt: skip

# Packages with many advisories in real data (kernel-adjacent, media, browsers, parsers).
HEAVY = {
    "deb": ["linux", "imagemagick", "ghostscript", "ffmpeg", "glibc", "openssl", "curl", "libxml2",
            "tiff", "binutils", "vim", "mariadb", "qemu", "chromium", "firefox-esr", "php8.2"],
    "apk": ["linux-lts", "imagemagick", "ffmpeg", "curl", "openssl", "musl", "libxml2", "tiff",
            "busybox", "vim", "binutils", "ghostscript", "git", "nginx"],
    "pep440": ["django", "tensorflow", "pillow", "cryptography", "urllib3", "requests", "jinja2",
               "ansible", "salt", "mlflow", "gradio", "lxml"],
    "semver": ["lodash", "axios", "minimist", "express", "ws", "node-fetch", "json5", "semver",
               "moment", "jsonwebtoken", "webpack", "next"],
}  # fmt: skip

# --------------------------------------------------------------------------- generated names

_ONSETS = ["b", "br", "c", "ch", "cr", "d", "f", "fl", "g", "gr", "h", "j", "k", "l", "m", "n",
           "p", "pl", "qu", "r", "s", "sh", "st", "t", "tr", "v", "w", "x", "z"]  # fmt: skip
_VOWELS = ["a", "e", "i", "o", "u", "ai", "ea", "io", "ou", "y"]
_CODAS = ["", "", "n", "r", "s", "t", "x", "m", "l", "ck", "ng", "rd", "nt"]


def _stem(rng: random.Random) -> str:
    return "".join(rng.choice(_ONSETS) + rng.choice(_VOWELS) + rng.choice(_CODAS)
                   for _ in range(rng.choice((1, 2, 2, 3))))  # fmt: skip


def _deb_name(rng: random.Random) -> str:
    stem = _stem(rng)
    return rng.choice([stem, f"lib{stem}", f"lib{stem}{rng.randint(0, 9)}", f"{stem}-utils",
                       f"python-{stem}", f"node-{stem}", f"golang-{stem}", f"ruby-{stem}"])  # fmt: skip


def _apk_name(rng: random.Random) -> str:
    stem = _stem(rng)
    return rng.choice([stem, f"lib{stem}", f"py3-{stem}", f"{stem}-libs", f"perl-{stem}"])


def _pypi_name(rng: random.Random) -> str:
    stem = _stem(rng)
    return rng.choice([stem, f"{stem}-{_stem(rng)}", f"django-{stem}", f"py{stem}",
                       f"{stem}-client", f"flask-{stem}"])  # fmt: skip


def _npm_name(rng: random.Random) -> str:
    stem = _stem(rng)
    return rng.choice([stem, f"{stem}-{_stem(rng)}", f"@{_stem(rng)}/{stem}", f"{stem}-js",
                       f"babel-plugin-{stem}", f"eslint-plugin-{stem}"])  # fmt: skip


_GENERATORS = {"deb": _deb_name, "apk": _apk_name, "pep440": _pypi_name, "semver": _npm_name}

# --------------------------------------------------------------------------- version histories


def _history(fam: str, rng: random.Random, pinned: str | None, n: int = 12) -> list[str]:
    """~n versions of one package, sorted with the ecosystem's own comparator."""
    if pinned:  # a real version: its neighbours, so the history stays plausible
        return sorted(set(_around(fam, pinned)), key=lambda v: _Key(fam, v))
    versions: set[str] = set()
    major, minor, patch = rng.randint(0, 12), rng.randint(0, 30), rng.randint(0, 20)
    while len(versions) < n:
        step = rng.random()
        if step < 0.15:
            major, minor, patch = major + 1, 0, 0
        elif step < 0.5:
            minor, patch = minor + 1, 0
        else:
            patch += 1
        versions.add(_spell(fam, major, minor, patch, rng))
    return sorted(versions, key=lambda v: _Key(fam, v))


def _spell(fam: str, major: int, minor: int, patch: int, rng: random.Random) -> str:
    base = f"{major}.{minor}.{patch}"
    if fam == "deb":
        return f"{base}-{rng.randint(1, 4)}" + rng.choice(["", "", f"+deb12u{rng.randint(1, 5)}"])
    if fam == "apk":
        return f"{base}-r{rng.randint(0, 6)}"
    return base


def _around(fam: str, version: str) -> list[str]:
    """The pinned version and neighbours made by moving its last number up and down."""
    found = list(re.finditer(r"\d+", version))
    out = [version]
    if found:
        last = found[-1]
        for delta in (-4, -3, -2, -1, 1, 2, 3):
            number = int(last.group()) + delta
            if number >= 0:
                out.append(version[: last.start()] + str(number) + version[last.end() :])
    if fam in ("pep440", "semver") and len(found) >= 2:  # earlier minor releases too
        minor = found[-2]
        for delta in (-2, -1):
            number = int(minor.group()) + delta
            if number >= 0:
                out.append(version[: minor.start()] + str(number) + version[minor.end() :])
    if fam == "deb" and "deb12u" not in version:
        out += [f"{version}+deb12u{k}" for k in (1, 2)]
    return [v for v in out if parse(fam, v) is not None]


class _Key:
    __slots__ = ("value",)

    def __init__(self, fam: str, version: str) -> None:
        self.value = parse(fam, version)

    def __lt__(self, other: _Key) -> bool:
        return self.value < other.value


# --------------------------------------------------------------------------- universe


@dataclass
class Pool:
    """One ecosystem family's packages: name -> sorted history; `ranked` for record weights."""

    fam: str
    histories: dict[str, list[str]] = field(default_factory=dict)
    pinned: dict[str, str] = field(default_factory=dict)
    ranked: list[str] = field(default_factory=list)  # most advisories first


class Universe:
    """Package names and histories of the four families; `sizes` = generated names per family."""

    def __init__(self, seed: int = 7, sizes: dict[str, int] | None = None) -> None:
        rng = random.Random(seed)
        sizes = sizes or {"deb": 3000, "apk": 1500, "pep440": 4000, "semver": 6000}
        real = {
            "deb": [(_source(b, s), _source_version(v, s)) for b, v, s in
                    DEBIAN_12_BASE + DEBIAN_12_EXTRA],
            "apk": [(o or n, v) for n, v, o in ALPINE_319_BASE + ALPINE_319_EXTRA],
            "pep440": PYPI_REAL,
            "semver": NPM_REAL,
        }  # fmt: skip
        self.pools: dict[str, Pool] = {}
        for fam, pinned in real.items():
            pool = Pool(fam)
            for name, version in pinned:
                pool.pinned.setdefault(name, version)
            for name in HEAVY[fam]:
                pool.pinned.setdefault(name, "")
            while len(pool.pinned) < len(pinned) + sizes[fam]:
                pool.pinned.setdefault(_GENERATORS[fam](rng), "")
            for name, version in pool.pinned.items():
                pool.histories[name] = _history(fam, rng, version or None)
            rest = [n for n in pool.histories if n not in HEAVY[fam]]
            rng.shuffle(rest)
            pool.ranked = HEAVY[fam] + rest
            self.pools[fam] = pool


def _source(binary: str, source: str) -> str:
    return source.split(" ", 1)[0] if source else binary


def _source_version(version: str, source: str) -> str:
    m = re.search(r"\((.+)\)", source)
    return m.group(1) if m else version
