"""Finding AWS-style credentials in text: access key ids and the secrets next to them (no I/O here but reading
the files and running ``git`` in :func:`scan_path`; ``storeroom scan`` in :mod:`storeroom.cli.scan` checks
what is found against the server).

- An access key id is ``AKIA`` (an IAM user's or root's long-term key) or ``ASIA`` (a temporary STS key)
  followed by 16 upper-case letters or digits, not inside a longer word
  (https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_identifiers.html#identifiers-unique-ids).
- A secret access key is 40 characters of base64's alphabet (letters of both cases, digits, ``+``, ``/``)
  standing alone.  So many things look like that that it only counts on a line that names it
  (``aws_secret_access_key``, ``SecretAccessKey``, ``Secret access key``...) or within :data:`NEAR` lines of
  an access key id; a hex digest (a git hash) never counts.
- Files: everything under the path but ``.git`` internals, symlinks, binaries (a NUL byte in the first 8 KiB)
  and files larger than the size limit.  Git history: the lines every commit reachable from any ref or the
  reflog added (``git log -p --all --reflog``), so a key committed and removed later is still found.
"""

from __future__ import annotations

import os
import re
import subprocess
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

KEY_ID = re.compile(r"(?<![A-Za-z0-9])(?:AKIA|ASIA)[A-Z0-9]{16}(?![A-Za-z0-9])")
SECRET = re.compile(r"(?<![A-Za-z0-9/+])[A-Za-z0-9/+]{40}(?![A-Za-z0-9/+=])")
SECRET_NAME = re.compile(r"secret[\s_.\-]*(?:access[\s_.\-]*)?key", re.IGNORECASE)
NEAR = 3  # lines
BINARY_SNIFF = 8192


@dataclass(frozen=True)
class Finding:
    path: str
    line: int
    kind: str  # "access_key_id" | "secret_access_key"
    value: str
    commit: str | None = None  # None: the file as it is now
    access_key_id: str | None = None  # a secret's nearest key id

    @property
    def location(self) -> str:
        where = f"{self.path}:{self.line}"
        return f"{self.commit[:12]}:{where}" if self.commit else where

    @property
    def masked(self) -> str:
        """Key ids are shown whole (AWS logs them; they name the key to act on), secrets never."""
        if self.kind == "access_key_id":
            return self.value
        return self.value[:4] + "*" * (len(self.value) - 4)


def _looks_random(text: str) -> bool:
    """A secret's 40 characters: both cases and a digit or symbol; not a hex digest, not a word run."""
    return (any(c.isupper() for c in text) and any(c.islower() for c in text)
            and any(c.isdigit() or c in "+/" for c in text))


def scan_lines(path: str, lines: Iterable[tuple[int, str]], commit: str | None = None) -> list[Finding]:
    """Findings in one file's (line number, text) pairs (the lines of a file, or the added lines of a diff)."""
    ids: list[tuple[int, str]] = []
    candidates: list[tuple[int, str, bool]] = []
    for number, text in lines:
        ids.extend((number, m.group()) for m in KEY_ID.finditer(text))
        named = SECRET_NAME.search(text) is not None
        candidates.extend((number, m.group(), named) for m in SECRET.finditer(text) if _looks_random(m.group()))
    found = [Finding(path, n, "access_key_id", key_id, commit) for n, key_id in ids]
    for number, secret, named in candidates:
        near = [(abs(n - number), key_id) for n, key_id in ids if abs(n - number) <= NEAR]
        if named or near:
            found.append(Finding(path, number, "secret_access_key", secret, commit, min(near)[1] if near else None))
    return sorted(found, key=lambda f: (f.line, f.kind))


# -- files ---------------------------------------------------------------------------------------------------


def walk_files(root: Path, max_size: int) -> Iterator[Path]:
    """Regular files under ``root`` worth reading: no .git internals, symlinks or files over ``max_size``."""
    if root.is_file():
        yield root
        return
    for folder, dirs, files in os.walk(root):
        dirs[:] = sorted(d for d in dirs if d != ".git" and not os.path.islink(os.path.join(folder, d)))
        for name in sorted(files):
            path = Path(folder, name)
            if name == ".git" or path.is_symlink():
                continue
            try:
                if path.stat().st_size <= max_size:
                    yield path
            except OSError:
                continue


def scan_file(path: Path, shown: str) -> list[Finding]:
    try:
        data = path.read_bytes()
    except OSError:
        return []
    if b"\0" in data[:BINARY_SNIFF]:
        return []
    text = data.decode("utf-8", errors="replace")
    return scan_lines(shown, enumerate(text.splitlines(), start=1))


def scan_files(root: Path, max_size: int) -> list[Finding]:
    base = root if root.is_dir() else root.parent
    found: list[Finding] = []
    for path in walk_files(root, max_size):
        found.extend(scan_file(path, os.path.relpath(path, base)))
    return sorted(found, key=lambda f: (f.path, f.line, f.kind))


# -- git history ---------------------------------------------------------------------------------------------

_HUNK = re.compile(r"^@@ -\d+(?:,\d+)? \+(\d+)(?:,\d+)? @@")


def git_dir(root: Path) -> bool:
    """Is ``root`` (a folder) inside a git repository?"""
    folder = root if root.is_dir() else root.parent
    try:
        done = subprocess.run(["git", "-C", str(folder), "rev-parse", "--git-dir"], capture_output=True,
                              timeout=30, check=False)
    except (OSError, subprocess.TimeoutExpired):
        return False
    return done.returncode == 0


def scan_history(root: Path) -> list[Finding]:
    """Findings in the lines every commit added to files under ``root``, named ``commit:path:line``."""
    folder = root if root.is_dir() else root.parent
    spec = ["--", "." if root.is_dir() else root.name]
    cmd = ["git", "-C", str(folder), "-c", "core.quotepath=off", "log", "-p", "--all", "--reflog", "--no-color",
           "--no-ext-diff", "--no-textconv", "--no-renames", "-U0", "--format=commit %H", "--relative", *spec]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
    assert proc.stdout is not None
    found: list[Finding] = []
    try:
        for commit, path, lines in _added_lines(line.decode("utf-8", errors="replace").rstrip("\n")
                                                for line in proc.stdout):
            found.extend(scan_lines(path, lines, commit))
    finally:
        proc.stdout.close()
        proc.wait()
    return found


def _added_lines(output: Iterable[str]) -> Iterator[tuple[str, str, list[tuple[int, str]]]]:
    """(commit, path, [(line number, text)]) of the added lines in ``git log -p -U0`` output, file by file.
    A file's header (``+++ b/path``) is read only before its first hunk: an added line ``++ x`` shows as
    ``+++ x`` too."""
    commit, path, number, in_header = "", None, 0, False
    added: list[tuple[int, str]] = []
    for line in output:
        if line.startswith("commit ") and len(line) >= 47 or line.startswith("diff --git "):
            if path and added:
                yield commit, path, added
            if line.startswith("commit "):
                commit = line[7:].strip()
            path, added, in_header = None, [], line.startswith("diff --git ")
        elif in_header and line.startswith("+++ "):
            name = _unquote(line[4:])
            path = None if name == "/dev/null" else name[2:]
        elif match := _HUNK.match(line):
            number, in_header = int(match.group(1)), False
        elif line.startswith("+") and not in_header and path is not None:
            added.append((number, line[1:]))
            number += 1
    if path and added:
        yield commit, path, added


def _unquote(name: str) -> str:
    """git's C-style quoting of an unusual path (``"b/a\\tb"``), roughly undone."""
    if name.startswith('"') and name.endswith('"'):
        return name[1:-1].encode("latin-1", errors="replace").decode("unicode_escape", errors="replace")
    return name
