"""Instructions per warm invocation, by function and by crate, from the callgrind profiles that
`scripts/profile.sh` leaves in DIR: one per start of the function, in start order (process ids
rise) a 201-invocation start, a 401-invocation start and a 201-invocation start (the benchmark's
warm-up, measured and counted starts). The second minus the first, divided by 200, leaves one
warm invocation: init, the first invocation and exit cancel out.

usage: profile_diff.py DIR [TOP]
"""

import re
import subprocess
import sys
from collections import defaultdict
from pathlib import Path

# Invocations the measured start makes beyond the warm-up start.
EXTRA_INVOCATIONS = 200

# `  1,234 (12.34%)  file:function [binary]` or `  1,234  file:function [binary]`.
LINE = re.compile(r"^\s*([\d,]+)\s+(?:\([\d.]+%\)\s+)?(\S.*)$")


def self_costs(path):
    """Instructions (Ir) per function, exclusive of callees, and the total."""
    out = subprocess.run(
        ["callgrind_annotate", "--inclusive=no", "--threshold=100", "--auto=no", path],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    costs, total = defaultdict(int), None
    for line in out.splitlines():
        m = LINE.match(line)
        if not m:
            continue
        ir, name = int(m.group(1).replace(",", "")), m.group(2)
        if name.startswith("PROGRAM TOTALS"):
            total = ir
        elif ":" in name:
            # Drop the file and the binary: the same function may sit in several files.
            function = name.split(":", 1)[1].rsplit(" [", 1)[0]
            costs[function] += ir
    if total is None:
        sys.exit(f"{path}: no PROGRAM TOTALS in callgrind_annotate's output")
    return costs, total


def crate_of(function):
    """The crate a (demangled) Rust function belongs to, or the C library it comes from."""
    if function.startswith(("__memcpy", "__memmove", "__memset", "__memcmp", "__strlen")):
        return "libc: mem*/str*"
    if re.match(r"^(_int_|malloc|free|cfree|realloc|calloc|__libc_|tcache|unlink_chunk)", function):
        return "libc: malloc/free"
    path = function.lstrip("<&*(")
    path = re.sub(r"^(dyn |impl |mut )", "", path)
    head = re.split(r"::|<| as ", path, maxsplit=1)[0].strip()
    return head or function


def main():
    if len(sys.argv) not in (2, 3):
        sys.exit(__doc__)
    out = Path(sys.argv[1])
    top = int(sys.argv[2]) if len(sys.argv) == 3 else 25
    files = sorted(out.glob("callgrind.*"), key=lambda f: int(f.suffix[1:]))
    if len(files) != 3:
        sys.exit(f"expected 3 callgrind files (one per start) in {out}, found {len(files)}")
    short, long_ = files[0], files[1]
    short_costs, short_total = self_costs(short)
    long_costs, long_total = self_costs(long_)
    per_invocation = (long_total - short_total) / EXTRA_INVOCATIONS
    delta = {
        f: (long_costs.get(f, 0) - short_costs.get(f, 0)) / EXTRA_INVOCATIONS
        for f in set(short_costs) | set(long_costs)
    }
    crates = defaultdict(float)
    for function, ir in delta.items():
        crates[crate_of(function)] += ir

    print(f"instructions per warm invocation: {per_invocation:,.0f}")
    print(f"  (short start {short_total:,}, long start {long_total:,}, {EXTRA_INVOCATIONS} invocations apart)")
    print("\nby crate (self cost, the crate a function's symbol names):")
    for crate, ir in sorted(crates.items(), key=lambda kv: -kv[1])[:top]:
        print(f"  {ir:>10,.0f}  {100 * ir / per_invocation:5.1f} %  {crate}")
    print("\nby function (self cost):")
    for function, ir in sorted(delta.items(), key=lambda kv: -kv[1])[:top]:
        print(f"  {ir:>10,.0f}  {100 * ir / per_invocation:5.1f} %  {function[:150]}")


if __name__ == "__main__":
    main()
