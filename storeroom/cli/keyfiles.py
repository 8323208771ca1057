"""Where applications read their keys: a ``.env`` file and AWS's access key CSV, written so that a reader never
sees half a file (a temporary file in the same folder, fsynced, renamed over the old one) and only the owner can
read them (mode 0600).

A ``.env`` file keeps its other lines (the application's own settings, comments, order); the ``AWS_*`` lines
given are replaced where they are (``export`` kept) or appended.
"""

from __future__ import annotations

import csv
import io
import os
import re
import secrets
from pathlib import Path

_ASSIGNMENT = re.compile(r"^(\s*(?:export\s+)?)([A-Za-z_][A-Za-z0-9_]*)\s*=")


def read_env_file(path: Path) -> dict[str, str]:
    """The ``NAME=value`` assignments of a .env file (quotes around a value removed; last one wins)."""
    values: dict[str, str] = {}
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return values
    for line in text.splitlines():
        match = _ASSIGNMENT.match(line)
        if match is None:
            continue
        value = line[match.end():].strip()
        if len(value) >= 2 and value[0] == value[-1] and value[0] in "'\"":
            value = value[1:-1]
        values[match.group(2)] = value
    return values


def update_env_file(path: Path, values: dict[str, str]) -> None:
    """Sets ``values`` in the .env file at ``path`` (created if absent), atomically, mode 0600."""
    path = written_file(path)  # resolved once: the file read is the file replaced
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except FileNotFoundError:
        lines = []
    out: list[str] = []
    done: set[str] = set()
    for line in lines:
        match = _ASSIGNMENT.match(line)
        name = match.group(2) if match else None
        if name is None or name not in values:
            out.append(line)
        elif name not in done:  # the first assignment is replaced, later ones dropped: one value, no doubt
            out.append(f"{match.group(1) if match else ''}{name}={values[name]}")
            done.add(name)
    out.extend(f"{name}={value}" for name, value in values.items() if name not in done)
    write_private(path, "\n".join(out) + "\n")


def credentials_csv(key_id: str, secret: str) -> str:
    """AWS's access key CSV: header ``Access key ID,Secret access key`` and one row."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(["Access key ID", "Secret access key"])
    writer.writerow([key_id, secret])
    return out.getvalue()


def written_file(path: Path) -> Path:
    """The file a key file at ``path`` is: ``path``, or where its symlink points (a .env linked from a shared
    folder: replacing the link with a file would leave the application reading the old one).  Followed only when
    the link is this user's or its target's owner's: a link another user made to a file they do not own
    (``/etc/…``, the command run as root) is refused, an OSError as an unwritable file is."""
    if not path.is_symlink():
        return path
    target = Path(os.path.realpath(path))
    try:
        target_owner = os.stat(target).st_uid
    except FileNotFoundError:  # a link to a file not made yet: its folder's owner
        target_owner = os.stat(target.parent).st_uid
    if os.lstat(path).st_uid not in (target_owner, os.geteuid()):
        raise OSError(f"{path} is another user's symbolic link to {target}, which that user does not own: "
                      "not followed")
    return target


def write_private(path: Path, text: str) -> None:
    """Replaces ``path`` with ``text`` atomically (readers see the old file or the new, never a part): 0600, with
    the existing file's owner and group, and that group's permissions when it was shared with another group — an
    application reading its .env by group lost it at the rotation that had just switched its key; never
    readable by others.  A symlink is written through (:func:`written_file`)."""
    path = written_file(path)
    folder = path.parent
    tmp = folder / f".{path.name}.{secrets.token_hex(6)}.tmp"
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
            mode = _keep_owner(f.fileno(), path)
        os.chmod(tmp, mode)  # whatever the umask
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    dir_fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)


def _keep_owner(fd: int, path: Path) -> int:
    """Gives the new file ``path``'s owner and group, as far as this user may; the mode to give it."""
    try:
        found = os.stat(path, follow_symlinks=False)
    except FileNotFoundError:
        return 0o600
    shared = False   # the file given to another group than the writer's (with an application, on purpose)
    for uid in (found.st_uid, -1):  # the owner only as root; the group where this user belongs to it
        try:
            os.fchown(fd, uid, found.st_gid)
            shared = found.st_gid != os.getegid()
            break
        except PermissionError:
            continue
    # that group keeps its permissions; a file made with the default umask (0644, the writer's group) becomes
    # 0600, and so does one whose group could not be kept (its bits would go to the writer's group instead)
    return 0o600 | (found.st_mode & 0o060 if shared else 0)


def check_writable(path: Path) -> str | None:
    """Why ``path`` cannot be written (before a key is made for it), or None."""
    folder = path.parent
    if not folder.is_dir():
        return f"{folder} is not a folder"
    if not os.access(folder, os.W_OK | os.X_OK):
        return f"cannot create files in {folder}"
    if path.exists() and not path.is_file():
        return f"{path} is not a regular file"
    return None
