"""Version ordering per ecosystem, as each packaging tool orders its own versions.

    ecosystem (OSV string) ──family()──► "deb" | "apk" | "rpm" | "pep440" | "semver"
    version string ──parse(family, v)──► a comparable value, or None ("cannot decide")

| family | ecosystems                                        | implementation              |
|--------|---------------------------------------------------|-----------------------------|
| deb    | Debian, Ubuntu                                    | `DebVersion` below          |
| apk    | Alpine, Wolfi, Chainguard                         | `ApkVersion` below          |
| rpm    | AlmaLinux, Rocky Linux, Red Hat, SUSE, openSUSE…  | univers `RpmVersion`        |
| pep440 | PyPI                                              | `packaging.version.Version` |
| semver | npm, Go (leading `v` stripped), crates.io         | univers `SemverVersion`     |

Why not univers everywhere: checked against the real tools (tests/unit/scanner/data), univers'
`DebianVersion` says `1.001 > 1.01` where dpkg says equal, and its `AlpineLinuxVersion` rejects
valid apk versions such as musl's `1.2.4_git20230717-r4` (`_git`, `_cvs`, `_svn`, `_hg` suffixes).
Both are replaced by small ports of the tools' own algorithms (dpkg `verrevcmp`, apk-tools
`version.c`). univers' rpm ordering agrees with rpm on every vector and is kept.

An invalid version never raises: `parse` returns None and `compare` returns None, which the
matcher treats as "cannot decide" (no finding). Parsed values are cached: a rescan of many
images compares the same few thousand version strings again and again.
"""

from __future__ import annotations

import re
from functools import lru_cache
from itertools import zip_longest
from typing import Any

from packaging.version import InvalidVersion as _Pep440Invalid
from packaging.version import Version as _Pep440Version
from univers.versions import InvalidVersion as _UniversInvalid
from univers.versions import RpmVersion as _RpmVersion
from univers.versions import SemverVersion as _SemverVersion

__all__ = ["ApkVersion", "DebVersion", "compare", "family", "parse"]

_FAMILIES = {
    "Debian": "deb",
    "Ubuntu": "deb",
    "Alpine": "apk",
    "Wolfi": "apk",
    "Chainguard": "apk",
    "AlmaLinux": "rpm",
    "Rocky Linux": "rpm",
    "Red Hat": "rpm",
    "SUSE": "rpm",
    "openSUSE": "rpm",
    "Oracle Linux": "rpm",
    "Mageia": "rpm",
    "openEuler": "rpm",
    "PyPI": "pep440",
    "npm": "semver",
    "Go": "semver",
    "crates.io": "semver",
}


def family(ecosystem: str) -> str | None:
    """The ordering family of an OSV ecosystem string (`Debian:12` -> `deb`), or None."""
    return _FAMILIES.get(ecosystem.split(":", 1)[0])


def parse(fam: str, version: str) -> Any | None:
    """A value ordered like the family's tool orders `version`, or None if it is invalid."""
    return _parse(fam, version) if isinstance(version, str) and len(version) <= 256 else None


def compare(fam: str, a: str, b: str) -> int | None:
    """-1, 0 or 1 as `a` sorts before, equal to or after `b`; None when either is invalid."""
    x, y = parse(fam, a), parse(fam, b)
    if x is None or y is None:
        return None
    return -1 if x < y else (1 if y < x else 0)


@lru_cache(maxsize=200_000)
def _parse(fam: str, version: str) -> Any | None:
    parser = _PARSERS.get(fam)
    if parser is None:
        return None
    try:
        return parser(version)
    except (ValueError, _UniversInvalid, _Pep440Invalid, TypeError):
        return None


def _semver(version: str) -> Any:
    # Go module versions carry a leading "v" (v1.2.3); SemVer itself has none.
    return _SemverVersion(version[1:] if version[:1] == "v" else version)


def _rpm(version: str) -> Any:
    if not version or any(c.isspace() for c in version):
        raise ValueError(version)
    return _RpmVersion(version)


class DebVersion:
    """A dpkg version `[epoch:]upstream[-revision]`, ordered exactly like `dpkg --compare-versions`.

    Each part is pre-split into dpkg's alternating (non-digit string, number) runs; the non-digit
    runs become tuples of weights where `~` sorts before the end of the string, letters before
    everything else (dpkg's `order()`), so a comparison is a walk over small tuples.
    """

    __slots__ = ("epoch", "revision", "upstream")

    _VALID = re.compile(r"^(?:(\d+):)?(\d[A-Za-z0-9.+~:-]*?)(?:-([A-Za-z0-9.+~]+))?$")

    def __init__(self, version: str) -> None:
        m = self._VALID.match(version.strip())
        if m is None or (m.group(3) is None and "-" in m.group(2)):
            raise ValueError(f"invalid dpkg version {version!r}")
        upstream = m.group(2)
        if ":" in upstream and m.group(1) is None:
            raise ValueError(f"invalid dpkg version {version!r}")  # a colon needs an epoch
        self.epoch = int(m.group(1) or 0)
        self.upstream = _runs(upstream)
        self.revision = _runs(m.group(3) or "")

    def _cmp(self, other: DebVersion) -> int:
        if self.epoch != other.epoch:
            return -1 if self.epoch < other.epoch else 1
        return _cmp_runs(self.upstream, other.upstream) or _cmp_runs(self.revision, other.revision)

    def __lt__(self, other: DebVersion) -> bool:
        return self._cmp(other) < 0

    def __eq__(self, other: object) -> bool:
        return isinstance(other, DebVersion) and self._cmp(other) == 0

    def __hash__(self) -> int:  # equal versions may differ in spelling (1.01 == 1.001)
        return hash(self.epoch)


_Run = tuple[tuple[int, ...], int]
_EMPTY_RUN: _Run = ((0,), 0)
_RUN = re.compile(r"(\D*)(\d*)")


def _weight(char: str) -> int:
    if char == "~":
        return -1
    return ord(char) if char.isalpha() else ord(char) + 256


def _runs(part: str) -> tuple[_Run, ...]:
    runs = []
    for text, digits in _RUN.findall(part):
        if text or digits:
            runs.append((tuple(_weight(c) for c in text) + (0,), int(digits or 0)))
    return tuple(runs)


def _cmp_runs(a: tuple[_Run, ...], b: tuple[_Run, ...]) -> int:
    # dpkg keeps comparing past the end of the shorter string as if it went on with empty
    # runs, so "1.0~" < "1.0" but "1.0a" > "1.0": hence the fill value, not tuple ordering.
    for x, y in zip_longest(a, b, fillvalue=_EMPTY_RUN):
        if x != y:
            return -1 if x < y else 1
    return 0


class ApkVersion:
    """An apk-tools version, ordered like `apk version -t` (a port of apk-tools `version.c`).

    Grammar: `digits{.digits}[letter]{_suffix[digits]}[-r digits]`; suffixes sort
    alpha < beta < pre < rc < (none) < cvs < svn < git < hg < p. Strings outside the grammar are
    rejected rather than string-sorted as apk does, so the matcher cannot decide on them.
    """

    __slots__ = ("tokens",)

    _VALID = re.compile(
        r"^\d+(\.\d+)*[a-z]?(_(alpha|beta|pre|rc|cvs|svn|git|hg|p)\d*)*"
        r"(-r\d+)?$"
    )

    def __init__(self, version: str) -> None:
        if not self._VALID.match(version):
            raise ValueError(f"invalid apk version {version!r}")
        self.tokens = tuple(_apk_tokens(version))

    def _cmp(self, other: ApkVersion) -> int:
        return _apk_compare(self.tokens, other.tokens)

    def __lt__(self, other: ApkVersion) -> bool:
        return self._cmp(other) < 0

    def __eq__(self, other: object) -> bool:
        return isinstance(other, ApkVersion) and self._cmp(other) == 0

    def __hash__(self) -> int:
        return 0


# apk-tools token kinds, in its enum order: the order itself decides "1.0" vs "1.0.1" below.
_DIGIT_OR_ZERO, _DIGIT, _LETTER, _SUFFIX, _SUFFIX_NO, _REVISION_NO, _END = range(7)
_PRE = ("alpha", "beta", "pre", "rc")
_POST = ("cvs", "svn", "git", "hg", "p")
_APK_TOKEN = re.compile(r"(\.)(\d+)|([a-z])|_([a-z]+)(\d*)|-r(\d+)")


def _apk_tokens(version: str) -> list[tuple[int, int]]:
    """(kind, value) pairs; a `.0…` run is a fraction: its leading zeros sort it low."""
    head = re.match(r"\d+", version)
    assert head is not None
    tokens = [(_DIGIT, int(head.group()))]
    for m in _APK_TOKEN.finditer(version, head.end()):
        dot_digits, letter, suffix, suffix_no, revision = (
            m.group(2),
            m.group(3),
            m.group(4),
            m.group(5),
            m.group(6),
        )
        if dot_digits is not None:
            tokens += _apk_dot_digits(dot_digits)
        elif letter is not None:
            tokens.append((_LETTER, ord(letter)))
        elif suffix is not None:
            tokens.append((_SUFFIX, _apk_suffix(suffix)))
            if suffix_no:
                tokens.append((_SUFFIX_NO, int(suffix_no)))
        else:
            tokens.append((_REVISION_NO, int(revision)))
    return tokens


def _apk_dot_digits(digits: str) -> list[tuple[int, int]]:
    zeros = len(digits) - len(digits.lstrip("0"))
    if zeros == 0:
        return [(_DIGIT_OR_ZERO, int(digits))]
    rest = digits[zeros:]
    # apk gives a run of leading zeros the value -count, then reads the rest as a new number
    # (so 1.01 < 1.1 and 1.0 > 1.00). apk-tools 2.12 also read a phantom 0 before a following
    # suffix, making 6.0_pre1 > 6.0; current apk-tools (and its test vectors) do not.
    return [(_DIGIT_OR_ZERO, -zeros)] + ([(_DIGIT, int(rest))] if rest else [])


def _apk_suffix(name: str) -> int:
    if name in _PRE:
        return _PRE.index(name) - len(_PRE)
    return _POST.index(name)


def _apk_compare(a: tuple[tuple[int, int], ...], b: tuple[tuple[int, int], ...]) -> int:
    for (ak, av), (bk, bv) in zip(a, b):
        if ak != bk:
            return _apk_kind_order(ak, av, bk, bv)
        if av != bv:
            return -1 if av < bv else 1
    if len(a) == len(b):
        return 0
    if len(a) > len(b):
        return _apk_kind_order(a[len(b)][0], a[len(b)][1], _END, 0)
    return _apk_kind_order(_END, 0, b[len(a)][0], b[len(a)][1])


def _apk_kind_order(ak: int, av: int, bk: int, bv: int) -> int:
    # Equal so far: the longer version is newer unless what follows is a pre-release suffix;
    # otherwise the token kind with the lower enum value is the newer one (apk's rule).
    if ak == _SUFFIX and av < 0:
        return -1
    if bk == _SUFFIX and bv < 0:
        return 1
    return -1 if ak > bk else (1 if ak < bk else 0)


_PARSERS = {
    "deb": DebVersion,
    "apk": ApkVersion,
    "rpm": _rpm,
    "pep440": _Pep440Version,
    "semver": _semver,
}
