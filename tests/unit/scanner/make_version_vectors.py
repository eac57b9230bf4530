"""Generate dpkg and rpm version-ordering vectors from the real tools.

    python tests/unit/scanner/make_version_vectors.py   # needs `dpkg` and `rpm` on PATH

Writes `data/dpkg_vectors.json` and `data/rpm_vectors.json` next to this file: a list of
`[a, b, expected]` with expected in {-1, 0, 1} as the tool answers it, plus, for dpkg, the strings
dpkg itself calls bad syntax (`invalid`). The tests only read the JSON, so they run without the
tools; rerun this script when adding pairs. The oracles are:

* dpkg: `dpkg --compare-versions A lt|eq B` (exit status), one call per question;
* rpm:  `rpm.vercmp` in rpm's embedded Lua, which parses `[E:]V[-R]` and compares like
  `rpmverCmp` (missing epoch = 0), all pairs in one `rpm --eval` call.
"""

from __future__ import annotations

import itertools
import json
import random
import subprocess
from pathlib import Path

HERE = Path(__file__).parent / "data"

DEB_SEEDS = [
    "0",
    "0.0",
    "1",
    "1.0",
    "1.0-0",
    "1.0-1",
    "1.0-1.1",
    "1.0-2",
    "1.0-10",
    "1.00",
    "1.0.0",
    "1.0~rc1",
    "1.0~rc1-1",
    "1.0~rc2",
    "1.0~~",
    "1.0~~a",
    "1.0~",
    "1.0+",
    "1.0+b1",
    "1.0a",
    "1.0-1~bpo1",
    "1.0-1+deb12u1",
    "1.0-1+deb12u2",
    "1.0-1~deb12u1",
    "1:0.9",
    "1:1.0",
    "2:0.1",
    "0:1.0",
    "1.0.dfsg",
    "1.0+dfsg",
    "1.0+dfsg-1",
    "1.0+dfsg1-1",
    "1.0+ds-1",
    "1.0-1ubuntu1",
    "1.0-1ubuntu0.1",
    "1.0-1build1",
    "1.34+dfsg-1.2",
    "1.34+dfsg-1.2+deb12u1",
    "1.34+dfsg-1.1",
    "3.0.11-1~deb12u2",
    "3.0.13-1~deb12u1",
    "3.0.11-1",
    "2.36-9+deb12u3",
    "2.36-9+deb12u13",
    "2.36-9",
    "2.36-9+b1",
    "1:1.2.13.dfsg-1",
    "1:1.2.13.dfsg-1+b1",
    "1:7.9p1-10+deb10u2",
    "1:9.2p1-2+deb12u3",
    "9.2p1-2",
    "7.88.1-10+deb12u5",
    "7.88.1-10+deb12u12",
    "20230311",
    "20230311+deb12u1",
    "2023c-5+deb12u1",
    "2024a-0+deb12u1",
    "5.2.15-2+b7",
    "5.2.15-2+b2",
    "1.2.3-4+really1.2.2-1",
    "1.2.3+really1.2.2",
    "1.2.2",
    "10.0",
    "9.0",
    "1.2.3.4.5.6.7.8.9",
    "1.18446744073709551616",
    "1.18446744073709551615",
    "1.001",
    "1.01",
    "1.1",
    "a1.0",
    "1.0-a",
    "1.0-~",
    "1.0-",
    "1:",
    ":1.0",
    "1.0:1",
    "-1.0",
    "1.0 1",
    "1.0_1",
    "1.0%1",
    "1.0-1-1",
    "1.0-1:1",
    "abc",
    "~1",
    "1.0-1.el9",
]

RPM_SEEDS = [
    "1.0",
    "1.0-1",
    "1.0-2",
    "1.0-1.el9",
    "1.0-1.el9_2",
    "1.0-1.el9_10",
    "1.0-1.el8",
    "1.0-1.el8_6.1",
    "0:1.0-1",
    "1:1.0-1",
    "1:0.9-1",
    "2:0.1-1",
    "1.0~rc1-1",
    "1.0~rc2-1",
    "1.0~~-1",
    "1.0^20230101-1",
    "1.0^-1",
    "1.0^git1-1",
    "1.0.1-1",
    "1.0a-1",
    "1.0b-1",
    "1.0.a-1",
    "1.00-1",
    "1.01-1",
    "1.1-1",
    "1.10-1",
    "1.9-1",
    "2.0-1",
    "1.0-1.1",
    "1.0-1.01",
    "1.0-1a",
    "1.0_1-1",
    "1.0+1-1",
    "1.1.1k-7.el8_6",
    "1:1.1.1k-7.el8_6",
    "1:1.1.1k-12.el8_9",
    "1:1.1.1c-15.el8",
    "3.0.7-6.el9_2",
    "3.0.7-27.el9",
    "1:3.0.7-27.el9",
    "3.0.7-27.el9.0.1",
    "2.28-225.el8",
    "2.28-225.el8_8.6",
    "2.34-60.el9",
    "2.34-60.el9_2.7",
    "7.61.1-30.el8_8.3",
    "7.76.1-26.el9_3.2",
    "1.2.11-40.el9",
    "1.2.11-39.el9",
    "4.14.3-26.el8",
    "4.16.1.3-25.el9",
    "5.1.8-6.el9",
    "5.1.8-6.el9_1",
    "1.0-1.module+el8.6.0+1024+b6c2b3c4",
    "1.0-1.module+el8.7.0+1001+a1a1a1a1",
    "1.0-1.fc38",
    "1.0-1.fc39",
    "12345678901234567890-1",
    "12345678901234567891-1",
    "1..0-1",
    "1.0--1",
    "a-1",
    "A-1",
    "1.0-1.el9~bootstrap",
]


def _dpkg_valid(version: str) -> bool:
    run = subprocess.run(
        ["dpkg", "--compare-versions", version, "eq", version],
        check=False,
        capture_output=True,
        text=True,
    )
    return "bad syntax" not in run.stderr and run.returncode in (0, 1)


def _dpkg_cmp(a: str, b: str) -> int:
    if subprocess.run(["dpkg", "--compare-versions", a, "lt", b], check=False).returncode == 0:
        return -1
    if subprocess.run(["dpkg", "--compare-versions", a, "eq", b], check=False).returncode == 0:
        return 0
    return 1


def _lua_quote(text: str) -> str:
    return "[==[" + text + "]==]"


def _rpm_cmp_many(pairs: list[tuple[str, str]]) -> list[int]:
    calls = "".join(
        f"io.write(rpm.vercmp({_lua_quote(a)},{_lua_quote(b)}),'\\n');" for a, b in pairs
    )
    out = subprocess.run(
        ["rpm", "--eval", "%{lua:" + calls + "}"], capture_output=True, text=True, check=True
    ).stdout
    return [int(line) for line in out.split()]


def _pairs(seeds: list[str], extra: int, seed: int) -> list[tuple[str, str]]:
    # Every seed against its neighbours in the list, plus a reproducible random sample.
    pairs = list(itertools.pairwise(seeds))
    rng = random.Random(seed)
    everything = list(itertools.combinations(seeds, 2))
    pairs += rng.sample(everything, min(extra, len(everything)))
    pairs += [(b, a) for a, b in rng.sample(pairs, len(pairs) // 4)]
    return list(dict.fromkeys(pairs))


def make_dpkg() -> dict:
    invalid = sorted(v for v in DEB_SEEDS if not _dpkg_valid(v))
    valid = [v for v in DEB_SEEDS if v not in invalid]
    pairs = _pairs(valid, 300, 12)
    return {
        "tool": "dpkg --compare-versions",
        "invalid": invalid,
        "pairs": [[a, b, _dpkg_cmp(a, b)] for a, b in pairs],
    }


def make_rpm() -> dict:
    pairs = _pairs(RPM_SEEDS, 300, 9)
    return {
        "tool": "rpm --eval %{lua: rpm.vercmp(a, b)}",
        "pairs": [[a, b, r] for (a, b), r in zip(pairs, _rpm_cmp_many(pairs), strict=True)],
    }


def main() -> None:
    HERE.mkdir(exist_ok=True)
    for name, data in (("dpkg", make_dpkg()), ("rpm", make_rpm())):
        path = HERE / f"{name}_vectors.json"
        path.write_text(json.dumps(data, indent=0) + "\n")
        print(f"{path}: {len(data['pairs'])} pairs")


if __name__ == "__main__":
    main()
