"""Instructions per warm invocation, by function and by crate, from two callgrind profiles of
the function: a short start and a long one (`scripts/profile.sh`). Their difference divided by
the difference in invocations leaves one warm invocation: init, the first invocation and exit
cancel out.

usage: profile_diff.py SHORT_OUT LONG_OUT EXTRA_INVOCATIONS [TOP]
"""

import re
import subprocess
import sys
from collections import defaultdict

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
    if len(sys.argv) not in (4, 5):
        sys.exit(__doc__)
    short, long_, extra = sys.argv[1], sys.argv[2], int(sys.argv[3])
    top = int(sys.argv[4]) if len(sys.argv) == 5 else 25
    short_costs, short_total = self_costs(short)
    long_costs, long_total = self_costs(long_)
    per_invocation = (long_total - short_total) / extra
    delta = {
        f: (long_costs.get(f, 0) - short_costs.get(f, 0)) / extra
        for f in set(short_costs) | set(long_costs)
    }
    crates = defaultdict(float)
    for function, ir in delta.items():
        crates[crate_of(function)] += ir

    print(f"instructions per warm invocation: {per_invocation:,.0f}")
    print(f"  (short start {short_total:,}, long start {long_total:,}, {extra} invocations apart)")
    print("\nby crate (self cost, the crate a function's symbol names):")
    for crate, ir in sorted(crates.items(), key=lambda kv: -kv[1])[:top]:
        print(f"  {ir:>10,.0f}  {100 * ir / per_invocation:5.1f} %  {crate}")
    print("\nby function (self cost):")
    for function, ir in sorted(delta.items(), key=lambda kv: -kv[1])[:top]:
        print(f"  {ir:>10,.0f}  {100 * ir / per_invocation:5.1f} %  {function[:150]}")


if __name__ == "__main__":
    main()
