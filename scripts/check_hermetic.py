"""Fails if the repository reaches outside itself (a step of scripts/test.sh).

1. No tracked code installs outside the project: pip only through the own pip of a venv in .venv,
   no global npm, no `cargo install` but into .tools, no sudo or system package manager, no rustup
   change (rust-toolchain.toml declares the toolchain, and rustup reads it) but CI's own
   provisioning of what that file declares (`rustup toolchain install` in .ci/run).
2. No tracked file refers to a path outside the repository: a `../` must lead to something that
   exists inside it (resolved from the file's folder), and no file names a home or machine folder.

A line that must quote such a string for another reason carries the marker `hermetic: not a path`.
Standard library only: it runs on the machine's python3, before any venv exists.
"""

import os
import re
import subprocess
import sys

ROOT = os.path.realpath(os.path.join(os.path.dirname(__file__), ".."))
SELF = os.path.relpath(os.path.realpath(__file__), ROOT)
MARKER = "hermetic: not a path"

# (pattern, what is wrong). Checked in code: every tracked file but Markdown and the vendored spec.
INSTALLS = [
    (r"\bpip3?(\s+-[-\w]+)*\s+install\b", "pip install outside .venv (use \"$VENV/bin/python\" -m pip)"),
    (r"--user\b", "a per-user install"),
    (r"\bnpm\b(?=.*\b(install|i|add|link|update|up)\b)(?=.*(\s-g\b|--global|--location[= ]global))",
     "a global npm install"),
    (r"\bnpx\b", "npx (fetches packages outside node_modules)"),
    (r"\bcargo\s+(install|binstall)\b", "cargo install (installs into ~/.cargo/bin)"),
    (r"\bsudo\b", "sudo"),
    (r"\b(apt|apt-get|yum|dnf|brew|apk|pacman|snap|gem|go|pipx)\s+install\b", "a system install"),
    (r"\buv\s+(tool|pip)\b", "uv outside .venv"),
    (r"\bcurl\b.*\|\s*(ba|z)?sh\b", "piping a download into a shell"),
    (r"\brustup\s+(target\s+add|toolchain\s+(install|link)|component\s+add|default|update|self|override|set"
     r"|install)\b", "a rustup change (rust-toolchain.toml declares what the project needs)"),
    (r"-m\s+venv\b(?!\s+\"\$VENV/)", "a virtual environment outside .venv"),
]
# A venv's own pip, as scripts/lib.sh runs it; a cargo tool built into the project's .tools, as
# scripts/security-check.sh builds cargo-deny.
VENV_PIP = re.compile(r'"\$VENV/\$purpose/bin/python" -m pip (install|check)\b'
                      r'|\bcargo install --locked --quiet --root "\$TOOLS" ')
# CI's machine, not a user's: .ci/run installs what rust-toolchain.toml declares.
CI_TOOLCHAIN = (".ci/run", "rustup toolchain install")

# Home and machine folders. Checked in every tracked file.
OUTSIDE = re.compile(r"(?<![\w.$/-])(/work/|/root/|/home/|/Users/|~/)|\$HOME\b|\$\{HOME\}|%USERPROFILE%")
PARENT = re.compile(r"(?<![\w.])((?:\.\./)+[\w.@/-]*)")


def tracked_files():
    try:
        out = subprocess.run(["git", "ls-files", "-z"], cwd=ROOT, check=True,
                             capture_output=True).stdout
        return [f for f in out.decode().split("\0") if f]
    except (OSError, subprocess.CalledProcessError):
        skip = {".git", ".venv", ".cache", "target", "node_modules", ".aws-sam"}
        found = []
        for folder, dirs, files in os.walk(ROOT):
            dirs[:] = [d for d in dirs if d not in skip]
            found += [os.path.relpath(os.path.join(folder, f), ROOT) for f in files]
        return found


def problems(path, text):
    is_code = not path.endswith(".md") and not path.startswith("spec/")
    folder = os.path.dirname(os.path.join(ROOT, path))
    for number, line in enumerate(text.splitlines(), 1):
        if MARKER in line:
            continue
        where = f"{path}:{number}"
        if is_code:
            for pattern, what in INSTALLS:
                if CI_TOOLCHAIN == (path, line.strip()):
                    continue
                if re.search(pattern, line) and not VENV_PIP.search(line):
                    yield f"{where}: {what}: {line.strip()}"
        if OUTSIDE.search(line):
            yield f"{where}: a path outside the repository: {line.strip()}"
        for match in PARENT.finditer(line):
            start = match.start()
            target = os.path.realpath(os.path.join(folder, match.group(1)))
            inside = target == ROOT or target.startswith(ROOT + os.sep)
            # `something/../` climbs out of a folder the pattern cannot see (such as
            # CARGO_MANIFEST_DIR or $ROOT): never inside as far as this check can tell.
            if (start > 0 and line[start - 1] == "/") or not inside or not os.path.exists(target):
                yield f"{where}: {match.group(1)} is not a file of this repository: {line.strip()}"


def main():
    found = []
    for path in tracked_files():
        if path == SELF:
            continue  # it spells out the patterns it looks for
        try:
            with open(os.path.join(ROOT, path), encoding="utf-8") as f:
                text = f.read()
        except (UnicodeDecodeError, FileNotFoundError, IsADirectoryError):
            continue  # binary files; tracked files deleted in the working tree
        found += problems(path, text)
    for problem in found:
        print(problem, file=sys.stderr)
    if found:
        print(f"check_hermetic: {len(found)} problem(s): the repository must not install or read "
              "anything outside itself", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
