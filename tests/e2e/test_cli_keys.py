"""``storeroom keys report | rotate | cleanup`` against a real server, run as the owner runs them (a subprocess);
the rotation with a real application process that keeps uploading through it."""

from __future__ import annotations

import csv
import json
import os
import stat
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from botocore.exceptions import ClientError

from storeroom.cli.keyfiles import read_env_file
from tests.conftest import StoreroomServer, make_client
from tests.e2e.cli import cli_env, json_of, one_line_error, storeroom
from tests.e2e.helpers import unique_name

S3_FULL = "arn:aws:iam::aws:policy/AmazonS3FullAccess"
UPLOADER = Path(__file__).with_name("cli_uploader.py")


def _user_with_key(iam: Any, new_user: Any) -> tuple[str, dict[str, str]]:
    user = new_user()
    iam.attach_user_policy(UserName=user, PolicyArn=S3_FULL)
    return user, iam.create_access_key(UserName=user)["AccessKey"]


def _app_env(path: Path, endpoint: str, key: dict[str, str]) -> None:
    path.write_text(f"# the application's settings\nAPP_NAME=demo\nexport AWS_ACCESS_KEY_ID={key['AccessKeyId']}\n"
                    f"AWS_SECRET_ACCESS_KEY={key['SecretAccessKey']}\nAWS_REGION=us-east-1\n"
                    f"AWS_ENDPOINT_URL={endpoint}\n")


def _invalid(endpoint: str, key_id: str, secret: str) -> str:
    with pytest.raises(ClientError) as e:
        make_client(endpoint, access_key=key_id, secret_key=secret).list_buckets()
    return str(e.value.response["Error"]["Code"])


def _log(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


@pytest.fixture
def quick_usage_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[StoreroomServer]:
    """A server that records a key's use every 2 s instead of every minute (STOREROOM_LAST_USED_INTERVAL), so that
    the rotation can settle in seconds: the same steps, without a minute's wait."""
    srv = StoreroomServer(tmp_path_factory.mktemp("quick-usage") / "data",
                          env={"STOREROOM_LAST_USED_INTERVAL": "2"})
    srv.start()
    yield srv
    srv.stop()


# (SQLite: the rotation's store calls are the same on PostgreSQL and run there in
# test_rotate_with_grace_then_cleanup.)
def test_rotation_keeps_a_running_application_uploading(quick_usage_server: StoreroomServer,
                                                        tmp_path: Path) -> None:
    endpoint = quick_usage_server.endpoint
    iam, s3 = make_client(endpoint, "iam"), make_client(endpoint)
    bucket = unique_name("rotation")
    s3.create_bucket(Bucket=bucket)
    user, old = _user_with_key(iam, lambda: iam.create_user(UserName=unique_name("u"))["User"]["UserName"])
    env_file, log, stop = tmp_path / "app.env", tmp_path / "app.log", tmp_path / "stop"
    _app_env(env_file, endpoint, old)
    app = subprocess.Popen([sys.executable, str(UPLOADER), str(env_file), bucket, str(log), str(stop), "0.2"])
    try:
        deadline = time.monotonic() + 30
        while len(_log(log) if log.exists() else []) < 5:
            assert time.monotonic() < deadline and app.poll() is None, "the application did not start uploading"
            time.sleep(0.2)
        # the server records the key's use every 2 s, not once a minute
        first = iam.get_access_key_last_used(AccessKeyId=old["AccessKeyId"])["AccessKeyLastUsed"]["LastUsedDate"]
        time.sleep(3)
        assert iam.get_access_key_last_used(
            AccessKeyId=old["AccessKeyId"])["AccessKeyLastUsed"]["LastUsedDate"] > first
        # --settle longer than that interval
        began = time.time()
        result = storeroom(endpoint, "keys", "rotate", user, "--env-file", env_file, "--settle", "6s",
                           "--poll-interval", "1s", "--now", "--json", timeout=240)
        ended = time.time()
        time.sleep(2)  # the application goes on with the new key
    finally:
        stop.touch()
        app.wait(timeout=30)
    assert result.returncode == 0, result.stderr
    out = json_of(result)
    new_id = out["new_access_key_id"]
    assert out["old_access_key_id"] == old["AccessKeyId"] and out["old_key"] == "deleted"
    assert out["waited_seconds"] >= 6

    requests = _log(log)
    assert [r for r in requests if r["outcome"] != "ok"] == []  # no failed request, before, during or after
    used = [r["key"] for r in requests]
    switch = used.index(new_id)
    assert set(used[:switch]) == {old["AccessKeyId"]} and set(used[switch:]) == {new_id}
    # the application switched as soon as the file changed, and uploaded all along, before and after
    assert began < requests[switch]["t"] < began + 10
    assert requests[0]["t"] < began and requests[-1]["t"] > ended
    assert max(b["t"] - a["t"] for a, b in zip(requests, requests[1:], strict=False)) < 5

    assert [k["AccessKeyId"] for k in iam.list_access_keys(UserName=user)["AccessKeyMetadata"]] == [new_id]
    assert _invalid(endpoint, old["AccessKeyId"], old["SecretAccessKey"]) == "InvalidAccessKeyId"
    env = read_env_file(env_file)
    assert env["AWS_ACCESS_KEY_ID"] == new_id and env["APP_NAME"] == "demo"
    assert f"export AWS_ACCESS_KEY_ID={new_id}\n" in env_file.read_text()  # replaced where it was
    assert env_file.read_text().startswith("# the application's settings\n")
    assert stat.S_IMODE(os.stat(env_file).st_mode) == 0o600
    make_client(endpoint, access_key=new_id, secret_key=env["AWS_SECRET_ACCESS_KEY"]).put_object(
        Bucket=bucket, Key="after.txt", Body=b"new key works")


def test_rotate_with_grace_then_cleanup(endpoint: str, iam, new_user, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    user, old = _user_with_key(iam, new_user)
    env_file, csv_file = tmp_path / ".env", tmp_path / "credentials.csv"
    _app_env(env_file, endpoint, old)
    # the application reads its .env by group: the rewritten file keeps the group and its read permission (it
    # became root's own 0600, unreadable by the application that was just switched to the new key)
    os.chown(env_file, -1, 65534)
    env_file.chmod(0o644)
    result = storeroom(endpoint, "keys", "rotate", user, "--env-file", env_file, "--csv", csv_file, "--force",
                       "--grace", "25s", "--json")  # the steps before the early cleanup take seconds under load
    assert result.returncode == 0, result.stderr
    assert (os.stat(env_file).st_gid, stat.S_IMODE(os.stat(env_file).st_mode)) == (65534, 0o640)  # not others
    out = json_of(result)
    new_id = out["new_access_key_id"]
    assert out["old_key"] == "inactive" and out["delete_after"]
    assert {k["AccessKeyId"]: k["Status"] for k in iam.list_access_keys(UserName=user)["AccessKeyMetadata"]} == {
        old["AccessKeyId"]: "Inactive", new_id: "Active"}
    assert _invalid(endpoint, old["AccessKeyId"], old["SecretAccessKey"]) == "InvalidAccessKeyId"
    tags = {t["Key"]: t["Value"] for t in iam.list_user_tags(UserName=user)["Tags"]}
    assert tags == {f"storeroom:delete-key:{old['AccessKeyId']}": out["delete_after"]}
    with csv_file.open(newline="") as f:
        rows = list(csv.DictReader(f))
    assert rows == [{"Access key ID": new_id, "Secret access key": read_env_file(env_file)["AWS_SECRET_ACCESS_KEY"]}]
    assert stat.S_IMODE(os.stat(csv_file).st_mode) == 0o600

    report = json_of(storeroom(endpoint, "keys", "report", "--json"))
    assert [k["delete_after"] for k in report["keys"] if k["access_key_id"] == old["AccessKeyId"]] == [
        out["delete_after"]]

    early = json_of(storeroom(endpoint, "keys", "cleanup", "--user", user, "--json"))
    assert [(k["access_key_id"], k["action"]) for k in early["keys"]] == [(old["AccessKeyId"], "waiting")]
    delete_after = datetime.fromisoformat(out["delete_after"].replace("Z", "+00:00"))
    time.sleep(max((delete_after - datetime.now(UTC)).total_seconds() + 1, 0))
    dry = json_of(storeroom(endpoint, "keys", "cleanup", "--dry-run", "--json"))
    assert {"user": user, "access_key_id": old["AccessKeyId"], "delete_after": out["delete_after"],
            "action": "would be deleted"} in dry["keys"]
    done = storeroom(endpoint, "keys", "cleanup")
    assert done.returncode == 0, done.stderr
    assert old["AccessKeyId"] in done.stdout and "deleted" in done.stdout
    assert [k["AccessKeyId"] for k in iam.list_access_keys(UserName=user)["AccessKeyMetadata"]] == [new_id]
    assert iam.list_user_tags(UserName=user)["Tags"] == []


def test_cleanup_keeps_a_key_reactivated_during_its_grace(endpoint: str, iam, new_user,  # type: ignore[no-untyped-def]
                                                          tmp_path: Path) -> None:
    user, old = _user_with_key(iam, new_user)
    env_file = tmp_path / ".env"
    _app_env(env_file, endpoint, old)
    assert storeroom(endpoint, "keys", "rotate", user, "--env-file", env_file, "--force", "--grace",
                     "1s").returncode == 0
    iam.update_access_key(UserName=user, AccessKeyId=old["AccessKeyId"], Status="Active")  # rolled back
    time.sleep(1.5)
    out = json_of(storeroom(endpoint, "keys", "cleanup", "--user", user, "--json"))
    assert [k["action"] for k in out["keys"]] == ["kept: active again (rotation undone)"]
    assert len(iam.list_access_keys(UserName=user)["AccessKeyMetadata"]) == 2
    assert iam.list_user_tags(UserName=user)["Tags"] == []


def test_rotate_in_json_without_a_file_gives_the_new_secret_when_it_gives_up(endpoint: str, iam, new_user) -> None:  # type: ignore[no-untyped-def]
    """--json with no --env-file nor --csv: the new key's secret is in the document that says the rotation gave up;
    it was in the success document only, so a timeout left a key nobody had the secret of, in IAM's second slot
    (admin CLI probe, finding 2)."""
    user, old = _user_with_key(iam, new_user)
    result = storeroom(endpoint, "keys", "rotate", user, "--timeout", "0s", "--json")
    assert result.returncode == 1, result.stderr
    out = json_of(result)
    assert out["old_key"] == "active" and out["new_access_key_id"] != old["AccessKeyId"]
    s3 = make_client(endpoint, access_key=out["new_access_key_id"], secret_key=out["secret_access_key"])
    assert "Buckets" in s3.list_buckets()


def test_rotate_gives_up_while_the_old_key_is_in_use_then_resumes(endpoint: str, iam, new_user,  # type: ignore[no-untyped-def]
                                                                  tmp_path: Path) -> None:
    user, old = _user_with_key(iam, new_user)
    env_file = tmp_path / ".env"
    _app_env(env_file, endpoint, old)
    result = storeroom(endpoint, "keys", "rotate", user, "--env-file", env_file, "--timeout", "0s", "--json")
    assert result.returncode == 1, result.stderr
    out = json_of(result)
    assert out["old_key"] == "active" and "both keys are left active" in out["error"]
    # nothing used the key in that time: the timeout is blamed, not the key ("was still being used")
    assert out["error"].startswith("--timeout ended after 0s, before ") and "still being used" not in out["error"]
    assert {k["Status"] for k in iam.list_access_keys(UserName=user)["AccessKeyMetadata"]} == {"Active"}

    # a second run without the file holding the new key: IAM's two keys, refused with the reason
    error = one_line_error(storeroom(endpoint, "keys", "rotate", user, "--force"))
    assert f"{user} already has 2 access keys" in error and "at most 2 per user" in error

    # the same command again resumes: the new key is in the file, the old one is retired
    again = storeroom(endpoint, "keys", "rotate", user, "--env-file", env_file, "--force", "--now", "--json")
    assert again.returncode == 0, again.stderr
    assert "Resuming" in again.stderr
    done = json_of(again)
    assert done["new_access_key_id"] == out["new_access_key_id"] and done["old_key"] == "deleted"
    assert [k["AccessKeyId"] for k in iam.list_access_keys(UserName=user)["AccessKeyMetadata"]] == [
        out["new_access_key_id"]]


def test_rotate_errors(endpoint: str, iam, new_user, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    user = new_user()
    assert "has no access key to rotate" in one_line_error(storeroom(endpoint, "keys", "rotate", user))
    error = one_line_error(storeroom(endpoint, "keys", "rotate", "nobody-by-that-name"))
    assert error.startswith("storeroom: NoSuchEntity: The user with name nobody-by-that-name cannot be found")
    iam.create_access_key(UserName=user)
    bad = storeroom(endpoint, "keys", "rotate", user, "--grace", "soon")
    assert bad.returncode == 2 and "expected a duration like 30s" in bad.stderr
    assert one_line_error(storeroom(endpoint, "keys", "rotate", user, "--env-file",
                                    tmp_path / "no" / ".env")) == f"storeroom: {tmp_path / 'no'} is not a folder"
    assert len(iam.list_access_keys(UserName=user)["AccessKeyMetadata"]) == 1  # nothing was made
    # a user rotating their own key with it: its polls kept the key "in use", and --force cut the command off
    own = iam.list_access_keys(UserName=user)["AccessKeyMetadata"][0]["AccessKeyId"]
    iam.delete_access_key(UserName=user, AccessKeyId=own)
    key = iam.create_access_key(UserName=user)["AccessKey"]
    iam.put_user_policy(UserName=user, PolicyName="own-keys", PolicyDocument=json.dumps({
        "Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": [
            "iam:*AccessKey*", "iam:GetUser", "iam:TagUser", "iam:ListUserTags"],
            "Resource": "arn:aws:iam::*:user/${aws:username}"}]}))
    env = cli_env(endpoint, AWS_ACCESS_KEY_ID=key["AccessKeyId"], AWS_SECRET_ACCESS_KEY=key["SecretAccessKey"])
    error = one_line_error(storeroom(endpoint, "keys", "rotate", user, "--force", env=env))
    assert error.startswith(f"storeroom: {key['AccessKeyId']} is the key this command signs with")
    assert [k["Status"] for k in iam.list_access_keys(UserName=user)["AccessKeyMetadata"]] == ["Active"]


@pytest.fixture
def own_server(tmp_path: Path):  # type: ignore[no-untyped-def]
    """A server of the test's own: the report lists every key of the account."""
    srv = StoreroomServer(tmp_path / "data", workers=1)
    srv.start()
    yield srv
    srv.stop()


def test_keys_report(own_server: StoreroomServer) -> None:
    endpoint = own_server.endpoint
    iam = make_client(endpoint, "iam")
    iam.create_user(UserName="idle")
    idle = iam.create_access_key(UserName="idle")["AccessKey"]["AccessKeyId"]
    iam.update_access_key(UserName="idle", AccessKeyId=idle, Status="Inactive")
    time.sleep(6)
    iam.create_user(UserName="busy")
    iam.attach_user_policy(UserName="busy", PolicyArn=S3_FULL)
    busy = iam.create_access_key(UserName="busy")["AccessKey"]
    make_client(endpoint, access_key=busy["AccessKeyId"], secret_key=busy["SecretAccessKey"]).list_buckets()

    # unused: never used and older than 4 seconds (the idle key), not the key used a moment ago (root's, used
    # through the test, may be: Storeroom records a key's use once a minute)
    result = storeroom(endpoint, "keys", "report", "--unused-days", str(4 / 86400), "--json")
    assert result.returncode == 1, result.stderr
    flags = {k["access_key_id"]: (k["rotate"], k["unused"]) for k in json_of(result)["keys"]}
    assert flags[idle] == (False, True) and flags[busy["AccessKeyId"]] == (False, False)

    result = storeroom(endpoint, "keys", "report", "--json")
    assert result.returncode == 0, result.stderr  # all keys are young
    report = json_of(result)
    assert report["attention"] == 0
    rows = {k["access_key_id"]: k for k in report["keys"]}
    assert [k["user"] for k in report["keys"]] == ["<root_account>", "busy", "idle"]
    assert rows[busy["AccessKeyId"]] | {"created": None, "last_used": None, "age_days": None} == {
        "user": "busy", "access_key_id": busy["AccessKeyId"], "status": "Active", "created": None,
        "age_days": None, "last_used": None, "last_used_service": "s3", "last_used_region": "us-east-1",
        "delete_after": None, "rotate": False, "unused": False, "attention": False}
    assert rows[busy["AccessKeyId"]]["last_used"].endswith("Z")
    assert rows[idle]["status"] == "Inactive" and rows[idle]["last_used"] is None

    # older than the max age: every active key is due for rotation; the table says so (cron mails it)
    result = storeroom(endpoint, "keys", "report", "--max-age-days", "0")
    assert result.returncode == 1, result.stderr
    lines = {line.split()[1]: line for line in result.stdout.splitlines() if "AKIA" in line}
    assert "rotate" in lines[busy["AccessKeyId"]] and "rotate" not in lines[idle]
    assert "2 key(s) need attention" in result.stdout


def test_common_options_and_errors(own_server: StoreroomServer, tmp_path: Path) -> None:
    from tests.e2e.cli import cli_env

    endpoint = own_server.endpoint
    for args in (["keys", "report"], ["keys", "rotate"], ["keys", "cleanup"], ["grant"], ["scan"]):
        shown = storeroom(endpoint, *args, "--help")
        assert shown.returncode == 0 and "--endpoint-url" in shown.stdout and "--json" in shown.stdout
    # no credentials anywhere: root's keys from DATA_DIR/root-credentials.csv
    data_dir = tmp_path / "somewhere"
    data_dir.mkdir()
    (data_dir / "root-credentials.csv").write_text(
        "Access key ID,Secret access key\nAKIAIOSFODNN7EXAMPLE,wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY\n")
    no_keys = cli_env(None, credentials=False, HOME=str(tmp_path))
    result = storeroom(None, "keys", "report", "--endpoint-url", endpoint, "--data-dir", data_dir, env=no_keys)
    assert result.returncode == 0, result.stderr
    assert "AKIAIOSFODNN7EXAMPLE" in result.stdout
    error = one_line_error(storeroom(None, "keys", "report", "--endpoint-url", endpoint, "--data-dir",
                                     tmp_path / "empty", env=no_keys))
    assert error.startswith("storeroom: no AWS credentials found") and "root-credentials.csv" in error
    # wrong secret: AWS's error code and message
    wrong = cli_env(endpoint, AWS_SECRET_ACCESS_KEY="x" * 40)
    assert one_line_error(storeroom(endpoint, "keys", "report", env=wrong)).startswith(
        "storeroom: SignatureDoesNotMatch: ")
    # nobody listening
    assert "cannot connect to http://127.0.0.1:9" in one_line_error(
        storeroom(endpoint, "keys", "report", "--endpoint-url", "http://127.0.0.1:9"))


def test_the_commands_pointed_at_the_console_say_it_is_not_the_api(tmp_path: Path) -> None:
    """The console's port (a web page, or an answer botocore cannot read) printed a traceback, or the page's
    HTML as the error."""
    srv = StoreroomServer(tmp_path / "data", workers=1, console=True)
    srv.start()
    try:
        for args in (("keys", "report"), ("audit",), ("grant", "alice", "--bucket", "some-bucket")):
            error = one_line_error(storeroom(srv.console_url, *args))
            assert error.startswith(f"storeroom: {srv.console_url} is not Storeroom's API: it answered "), error
            assert "`storeroom serve --listen`" in error and "<" not in error
    finally:
        srv.stop()


def test_an_empty_endpoint_url_means_aws_whatever_the_environment_says(endpoint: str) -> None:
    """--endpoint-url '' is AWS's own endpoints: with AWS_ENDPOINT_URL set (as the README's guide section sets
    it), boto3 read the variable itself and the command acted on the local server (admin CLI probe, finding 4).
    There is no network to AWS here: the command fails naming AWS's endpoint."""
    result = storeroom(endpoint, "keys", "report", "--endpoint-url", "")
    assert result.returncode == 2, result.stdout
    # no network: AWS's endpoint named; with one: AWS refuses this local key (the local server would have answered)
    assert "amazonaws.com" in result.stderr or "InvalidClientTokenId" in result.stderr, result.stderr


def test_roots_key_is_told_how_it_is_rotated(endpoint: str) -> None:
    """`keys rotate` rotates IAM users' keys; the report and `rotate <root_account>` say how root's is rotated
    instead of advising a command that cannot (admin CLI probe, finding 6)."""
    report = storeroom(endpoint, "keys", "report", "--max-age-days", "0")
    assert "<root_account>" in report.stdout
    assert "aws iam create-access-key` without --user-name" in " ".join(report.stdout.split()), report.stdout
    refused = storeroom(endpoint, "keys", "rotate", "<root_account>", "--force")
    assert refused.returncode == 2
    assert "keys rotate rotates IAM users' keys. The root user's key:" in one_line_error(refused)


def test_rotate_in_json_gives_the_new_secret_when_an_api_call_fails_while_waiting(endpoint: str, iam, new_user) -> None:  # type: ignore[no-untyped-def]
    """Any error after the new key is made (here the old key deleted by someone else while the command waits for
    it to fall silent) still gives the new key's secret in JSON mode (review, finding 3)."""
    import subprocess

    from tests.e2e.cli import REPO, cli_env

    user, old = _user_with_key(iam, new_user)
    proc = subprocess.Popen([sys.executable, "-m", "storeroom", "keys", "rotate", user, "--settle", "70s",
                             "--poll-interval", "1s", "--timeout", "60s", "--json"], cwd=REPO, env=cli_env(endpoint),
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 30
    while len(iam.list_access_keys(UserName=user)["AccessKeyMetadata"]) < 2 and time.monotonic() < deadline:
        time.sleep(0.2)
    iam.delete_access_key(UserName=user, AccessKeyId=old["AccessKeyId"])
    stdout, stderr = proc.communicate(timeout=60)
    assert proc.returncode != 0, stdout
    out = json.loads(stdout)
    assert out["error"] and out["new_access_key_id"] != old["AccessKeyId"], (stdout, stderr)
    s3 = make_client(endpoint, access_key=out["new_access_key_id"], secret_key=out["secret_access_key"])
    assert "Buckets" in s3.list_buckets()


def test_rotate_interrupted_while_waiting_keeps_both_keys_and_gives_the_secret(endpoint: str, iam, new_user) -> None:  # type: ignore[no-untyped-def]
    """Ctrl-C while `keys rotate` waits for the old key to fall silent: both keys stay active, the JSON document
    gives the new key's secret (in no file here), and the exit status is 130, not "needs attention"."""
    import signal
    import subprocess

    from tests.e2e.cli import REPO, cli_env

    user, old = _user_with_key(iam, new_user)
    proc = subprocess.Popen([sys.executable, "-m", "storeroom", "keys", "rotate", user, "--settle", "70s",
                             "--poll-interval", "1s", "--timeout", "60s", "--json"], cwd=REPO, env=cli_env(endpoint),
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    deadline = time.monotonic() + 30
    while len(iam.list_access_keys(UserName=user)["AccessKeyMetadata"]) < 2 and time.monotonic() < deadline:
        time.sleep(0.2)
    time.sleep(1)  # into the wait
    proc.send_signal(signal.SIGINT)
    stdout, stderr = proc.communicate(timeout=60)
    assert proc.returncode == 130, (stdout, stderr)
    out = json.loads(stdout)
    assert out["old_key"] == "active" and "interrupted" in out["error"]
    assert {k["Status"] for k in iam.list_access_keys(UserName=user)["AccessKeyMetadata"]} == {"Active"}
    s3 = make_client(endpoint, access_key=out["new_access_key_id"], secret_key=out["secret_access_key"])
    assert "Buckets" in s3.list_buckets()
