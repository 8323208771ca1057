"""The admin commands' pure pieces: durations, "the old key stopped moving", .env rewriting, what counts as a
leaked key, and reading ``git log -p`` output."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from storeroom.cli.common import parse_duration
from storeroom.cli.grant import grant_policy, policy_literal
from storeroom.cli.keyfiles import read_env_file, update_env_file
from storeroom.cli.keys import QuietWatch
from storeroom.cli.secrets_scan import _added_lines, scan_lines

KEY_ID = "AKIAQVNDHKGQM3YULPOF"
SECRET = "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"


@pytest.mark.parametrize(("text", "seconds"), [
    ("90", 90), ("30s", 30), ("5m", 300), ("1h30m", 5400), ("1d", 86400), ("2w", 14 * 86400), ("0.5h", 1800),
    ("0s", 0),
])
def test_durations(text: str, seconds: float) -> None:
    assert parse_duration(text) == seconds


@pytest.mark.parametrize("text", ["", "soon", "1y", "5m3", "-1s", "1d 2x", "m"])
def test_bad_durations(text: str) -> None:
    with pytest.raises(ValueError, match="expected a duration"):
        parse_duration(text)


@pytest.mark.parametrize("text", ["9999999d", "99999999999w", "99999999999999999999999d"])
def test_durations_beyond_any_calendar_are_refused(text: str) -> None:
    """`audit --since 9999999d` and `-f --lag 99999999999w` printed OverflowError tracebacks."""
    with pytest.raises(ValueError, match="at most 100 years"):
        parse_duration(text)


def test_quiet_watch_needs_an_unchanged_value_for_the_whole_window() -> None:
    watch = QuietWatch(settle=60)
    assert not watch.observe("t1", 0)
    assert not watch.observe("t1", 50)
    assert not watch.observe("t2", 55)  # moved: the window starts again
    assert not watch.observe("t2", 110)
    assert watch.observe("t2", 115)
    assert watch.quiet_for(115) == 60
    never = QuietWatch(settle=10)  # a key never used: None stays None
    assert not never.observe(None, 0) and never.observe(None, 10)


def test_env_file_keeps_other_lines(tmp_path: Path) -> None:
    env = tmp_path / ".env"
    env.write_text("# app\nDEBUG=1\nexport AWS_ACCESS_KEY_ID=OLD\nAWS_SECRET_ACCESS_KEY='old'\n"
                   "AWS_ACCESS_KEY_ID=DUPLICATE\nNAME=\"x y\"\n")
    os.chmod(env, 0o644)
    update_env_file(env, {"AWS_ACCESS_KEY_ID": KEY_ID, "AWS_SECRET_ACCESS_KEY": SECRET, "AWS_REGION": "eu-west-1"})
    assert env.read_text() == (f"# app\nDEBUG=1\nexport AWS_ACCESS_KEY_ID={KEY_ID}\nAWS_SECRET_ACCESS_KEY={SECRET}\n"
                               "NAME=\"x y\"\nAWS_REGION=eu-west-1\n")
    assert stat.S_IMODE(env.stat().st_mode) == 0o600
    assert read_env_file(env)["NAME"] == "x y"
    assert [p.name for p in tmp_path.iterdir()] == [".env"]  # no temporary file left behind
    fresh = tmp_path / "new.env"
    update_env_file(fresh, {"A": "1"})
    assert fresh.read_text() == "A=1\n" and stat.S_IMODE(fresh.stat().st_mode) == 0o600


def test_policy_prefix_is_literal() -> None:
    assert policy_literal("a*b?c$d/") == "a${*}b${?}c${$}d/"
    policy = grant_policy("b", "in/", read_write=False)
    listing, _, objects = policy["Statement"]
    assert listing["Condition"] == {"StringLike": {"s3:prefix": ["in/*"]}}
    assert objects == {"Sid": "ReadObjects", "Effect": "Allow", "Action": ["s3:GetObject"],
                       "Resource": "arn:aws:s3:::b/in/*"}
    assert "Condition" not in grant_policy("b", "", read_write=True)["Statement"][0]


def test_what_counts_as_a_leaked_key() -> None:
    lines = [
        f"aws_access_key_id = {KEY_ID}",  # 1
        f"aws_secret_access_key = {SECRET}",  # 2: named, and near a key id
        "", "", "", "",
        f"token: {SECRET[::-1]}",  # 7: 6 lines from the key id, not named: not counted
        f'SecretAccessKey: "{SECRET.lower()}"',  # 8: named, but one case only: not a secret
        "commit 0123456789abcdef0123456789abcdef01234567",  # 9: a git hash, never a secret
        "", "", "", "",
        f"XAKIAQVNDHKGQM3YULPOF {KEY_ID}X ASIAQVNDHKGQM3YULPOF",  # 14: inside words: no; an STS id: yes
    ]
    found = scan_lines("f", enumerate(lines, start=1))
    assert [(f.line, f.kind, f.value, f.access_key_id) for f in found] == [
        (1, "access_key_id", KEY_ID, None),
        (2, "secret_access_key", SECRET, KEY_ID),
        (14, "access_key_id", "ASIAQVNDHKGQM3YULPOF", None),
    ]
    assert found[1].masked == SECRET[:4] + "*" * 36 and found[1].location == "f:2"
    csv_row = scan_lines("c", [(2, f"{KEY_ID},{SECRET}")])
    assert [f.kind for f in csv_row] == ["access_key_id", "secret_access_key"]


def test_reading_git_log_patch_output() -> None:
    output = [
        "commit " + "a" * 40,
        "diff --git a/.env b/.env",
        "deleted file mode 100644",
        "--- a/.env",
        "+++ /dev/null",
        "@@ -1,2 +0,0 @@",
        f"-AWS_ACCESS_KEY_ID={KEY_ID}",
        "commit " + "b" * 40,
        "diff --git a/.env b/.env",
        "new file mode 100644",
        "--- /dev/null",
        "+++ b/.env",
        "@@ -0,0 +1,2 @@",
        f"+AWS_ACCESS_KEY_ID={KEY_ID}",
        "++++ an added line that starts with ++",
        "diff --git a/dir/x.py b/dir/x.py",
        "--- a/dir/x.py",
        "+++ b/dir/x.py",
        "@@ -10 +12,0 @@",
        "-gone",
        "@@ -20,0 +30 @@",
        "+added = 1",
    ]
    assert list(_added_lines(output)) == [
        ("b" * 40, ".env", [(1, f"AWS_ACCESS_KEY_ID={KEY_ID}"), (2, "+++ an added line that starts with ++")]),
        ("b" * 40, "dir/x.py", [(30, "added = 1")]),
    ]


def test_env_file_shared_with_a_group_keeps_it_unless_it_cannot(tmp_path: Path,
                                                                monkeypatch: pytest.MonkeyPatch) -> None:
    """An application reading its .env by group keeps reading it; a writer who may not give the file that group
    (not a member) makes it 0600 — the group bits would otherwise go to the writer's own group."""
    env = tmp_path / ".env"
    env.write_text("A=1\n")
    os.chown(env, -1, 65534)
    os.chmod(env, 0o640)
    update_env_file(env, {"B": "2"})
    assert (env.stat().st_gid, stat.S_IMODE(env.stat().st_mode)) == (65534, 0o640)

    def refused(fd: int, uid: int, gid: int) -> None:
        raise PermissionError(1, "Operation not permitted")
    monkeypatch.setattr(os, "fchown", refused)
    update_env_file(env, {"C": "3"})
    assert (env.stat().st_gid, stat.S_IMODE(env.stat().st_mode)) == (os.getegid(), 0o600)


def test_a_symlinked_env_file_is_updated_where_it_points(tmp_path: Path) -> None:
    """A .env symlinked from a shared folder (Capistrano's shared/.env) is written where the link points: the
    link replaced by a file left the application reading the old, deactivated key (admin CLI probe, finding 1)."""
    shared = tmp_path / "shared"
    shared.mkdir()
    (shared / "real.env").write_text("APP=1\nAWS_ACCESS_KEY_ID=OLD\n")
    link = tmp_path / "app.env"
    link.symlink_to(Path("shared") / "real.env")
    update_env_file(link, {"AWS_ACCESS_KEY_ID": KEY_ID})
    assert link.is_symlink()
    assert read_env_file(shared / "real.env") == {"APP": "1", "AWS_ACCESS_KEY_ID": KEY_ID}
    assert [p.name for p in shared.iterdir()] == ["real.env"]  # no temporary file left beside it


def test_another_users_symlink_to_a_file_it_does_not_own_is_not_followed(tmp_path: Path) -> None:
    """Run as root, `keys rotate --env-file` through a link another user controls would replace any file root may
    write (/etc/…): such a link is refused, the file left as it was (review, finding 2)."""
    if os.geteuid() != 0:
        pytest.skip("needs root to give the link to another user")
    victim = tmp_path / "victim.conf"
    victim.write_text("precious\n")
    os.chmod(victim, 0o644)
    link = tmp_path / "app.env"
    link.symlink_to(victim)
    os.lchown(link, 65534, 65534)  # nobody's link to root's file
    with pytest.raises(OSError, match="another user's symbolic link"):
        update_env_file(link, {"AWS_ACCESS_KEY_ID": KEY_ID})
    assert victim.read_text() == "precious\n" and stat.S_IMODE(victim.stat().st_mode) == 0o644
    os.lchown(link, 0, 0)  # root's own link: followed
    update_env_file(link, {"AWS_ACCESS_KEY_ID": KEY_ID})
    assert read_env_file(victim)["AWS_ACCESS_KEY_ID"] == KEY_ID
