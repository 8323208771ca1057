"""``storeroom policy generate`` against a real server, run as the owner runs it (a subprocess): a real user with
a broad policy does its work (uploads, a multipart upload, downloads, listings, a look at its own keys) and is
denied twice; the generated policy allows exactly that work (IAM's simulator says so, and the user, left with
only the generated policy by --apply, does it all again) and nothing more."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
from botocore.exceptions import ClientError

from tests.conftest import make_client
from tests.e2e.cli import json_of, one_line_error, storeroom
from tests.e2e.iam_cleanup import delete_policy_fully
from tests.e2e.test_cli_audit import wait_for


def broad_policy(bucket: str) -> str:
    return json.dumps({"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Action": "s3:*", "Resource": [f"arn:aws:s3:::{bucket}", f"arn:aws:s3:::{bucket}/*"]},
        {"Effect": "Allow", "Action": ["iam:GetUser", "iam:ListAccessKeys"], "Resource": "*"}]})


def do_the_work(user: Any, bucket: str) -> None:
    """What the application does, every call allowed by the broad policy (a HEAD of a missing key answers 404:
    an allowed request)."""
    s3 = user.s3
    s3.put_object(Bucket=bucket, Key="reports/2024/a.csv", Body=b"a,b\n")
    upload = s3.create_multipart_upload(Bucket=bucket, Key="reports/2024/big.bin")["UploadId"]
    part = s3.upload_part(Bucket=bucket, Key="reports/2024/big.bin", UploadId=upload, PartNumber=1, Body=b"x" * 10)
    s3.complete_multipart_upload(Bucket=bucket, Key="reports/2024/big.bin", UploadId=upload,
                                 MultipartUpload={"Parts": [{"PartNumber": 1, "ETag": part["ETag"]}]})
    s3.get_object(Bucket=bucket, Key="reports/2024/a.csv")["Body"].read()
    s3.head_object(Bucket=bucket, Key="reports/2024/big.bin")
    with pytest.raises(ClientError) as missing:
        s3.head_object(Bucket=bucket, Key="reports/2024/missing.csv")
    assert missing.value.response["Error"]["Code"] == "404"
    s3.copy_object(Bucket=bucket, Key="reports/2024/copy.csv",
                   CopySource={"Bucket": bucket, "Key": "reports/2024/a.csv"})
    s3.list_objects_v2(Bucket=bucket, Prefix="reports/")
    s3.list_objects(Bucket=bucket, Prefix="reports/")
    s3.head_bucket(Bucket=bucket)
    user.client("sts").get_caller_identity()
    user.iam.get_user()
    user.iam.list_access_keys()


@pytest.fixture
def worker(endpoint: str, iam_user, bucket: str, new_bucket):  # type: ignore[no-untyped-def]
    user = iam_user(inline={"broad": broad_policy(bucket)})
    do_the_work(user, bucket)
    user.other_bucket = new_bucket()
    for call in (lambda: user.s3.put_object(Bucket=user.other_bucket, Key="x", Body=b"x"),
                 lambda: user.iam.list_users()):
        with pytest.raises(ClientError):
            call()
    wait_for(make_client(endpoint, "cloudtrail"), user.name, lambda es: len(es) >= 16)
    return user


@pytest.fixture
def generated_policies(iam) -> Iterator[list[str]]:  # type: ignore[no-untyped-def]
    """ARNs of policies a test made with --apply: deleted afterwards (after the user, which detaches them)."""
    arns: list[str] = []
    yield arns
    for arn in arns:
        delete_policy_fully(iam, arn)


def expected_policy(bucket: str, user_arn: str) -> dict[str, Any]:
    return {"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Action": ["iam:GetUser", "iam:ListAccessKeys"], "Resource": user_arn},
        {"Effect": "Allow", "Action": "s3:ListBucket", "Resource": f"arn:aws:s3:::{bucket}"},
        {"Effect": "Allow", "Action": ["s3:GetObject", "s3:PutObject"],
         "Resource": f"arn:aws:s3:::{bucket}/reports/2024/*"},
    ]}


def used(bucket: str, user_arn: str) -> list[tuple[str, str]]:
    """Every action the work needed, on the resource it was used on."""
    obj = f"arn:aws:s3:::{bucket}/reports/2024/"
    return [("s3:PutObject", obj + "a.csv"), ("s3:PutObject", obj + "big.bin"), ("s3:PutObject", obj + "copy.csv"),
            ("s3:GetObject", obj + "a.csv"), ("s3:GetObject", obj + "big.bin"), ("s3:GetObject", obj + "missing.csv"),
            ("s3:ListBucket", f"arn:aws:s3:::{bucket}"), ("iam:GetUser", user_arn),
            ("iam:ListAccessKeys", user_arn)]


def simulate(iam: Any, document: dict[str, Any], action: str, resource: str) -> str:
    result = iam.simulate_custom_policy(PolicyInputList=[json.dumps(document)], ActionNames=[action],
                                        ResourceArns=[resource])
    return str(result["EvaluationResults"][0]["EvalDecision"])


def test_generated_policy_allows_what_the_user_did_and_nothing_more(endpoint: str, iam, worker,  # type: ignore[no-untyped-def]
                                                                    bucket: str) -> None:
    result = storeroom(endpoint, "policy", "generate", "--user", worker.name, "--json")
    assert result.returncode == 0, result.stderr
    out = json_of(result)
    assert out["policy"] == expected_policy(bucket, worker.arn)
    assert out["validated"] is True and out["events"] == 14 and out["denied_events_left_out"] == 2
    assert out["skipped"] == {"sts:GetCallerIdentity": 1} and out["unmapped"] == {}
    assert out["actions"] == ["iam:GetUser", "iam:ListAccessKeys", "s3:GetObject", "s3:ListBucket", "s3:PutObject"]

    document = out["policy"]
    for action, resource in used(bucket, worker.arn):
        assert simulate(iam, document, action, resource) == "allowed", (action, resource)
    for action, resource in [("s3:DeleteBucket", f"arn:aws:s3:::{bucket}"),
                             ("s3:DeleteObject", f"arn:aws:s3:::{bucket}/reports/2024/a.csv"),
                             ("s3:PutObject", f"arn:aws:s3:::{bucket}/private/x"),
                             ("s3:PutObject", f"arn:aws:s3:::{worker.other_bucket}/x"),
                             ("s3:ListAllMyBuckets", "*"), ("iam:ListUsers", "*"),
                             ("iam:CreateAccessKey", worker.arn),
                             ("iam:ListAccessKeys", worker.arn.rsplit("/", 1)[0] + "/someone-else")]:
        assert simulate(iam, document, action, resource) == "implicitDeny", (action, resource)

    # without --json: the policy alone on stdout (for a file or `aws iam create-policy`), the summary on stderr
    plain = storeroom(endpoint, "policy", "generate", "--user", worker.name)
    assert plain.returncode == 0 and json.loads(plain.stdout) == document
    assert f"From 14 event(s) of {worker.name}" in plain.stderr and "2 denied event(s) left out" in plain.stderr
    assert "Needing no permission: sts:GetCallerIdentity (1)" in plain.stderr


def test_include_denied_adds_what_was_refused(endpoint: str, iam, worker, bucket: str) -> None:  # type: ignore[no-untyped-def]
    out = json_of(storeroom(endpoint, "policy", "generate", "--user", worker.name, "--include-denied", "--json"))
    statements = out["policy"]["Statement"]
    assert {"Effect": "Allow", "Action": "s3:PutObject", "Resource": sorted([
        f"arn:aws:s3:::{bucket}/reports/2024/*", f"arn:aws:s3:::{worker.other_bucket}/x"])} in statements
    assert {"Effect": "Allow", "Action": "iam:ListUsers", "Resource": "*"} in statements
    assert out["denied_events_left_out"] == 0
    assert simulate(iam, out["policy"], "s3:PutObject", f"arn:aws:s3:::{worker.other_bucket}/x") == "allowed"


def test_apply_leaves_the_user_exactly_what_it_needs(endpoint: str, iam, worker, bucket: str,  # type: ignore[no-untyped-def]
                                                     generated_policies: list[str]) -> None:
    result = storeroom(endpoint, "policy", "generate", "--user", worker.name, "--apply", "--json")
    assert result.returncode == 0, result.stderr
    out = json_of(result)
    arn = out["policy_arn"]
    generated_policies.append(arn)
    assert arn.endswith(f":policy/storeroom/generated/{worker.name}") and out["policy_version"] == "v1"
    assert out["policy_changed"] and out["other_policies"] == []
    assert [p["PolicyArn"] for p in iam.list_attached_user_policies(UserName=worker.name)["AttachedPolicies"]] \
        == [arn]

    # the user's own identity, with only the generated policy: the simulator and the real requests agree
    iam.delete_user_policy(UserName=worker.name, PolicyName="broad")
    for action, resource in used(bucket, worker.arn):
        decision = iam.simulate_principal_policy(PolicySourceArn=worker.arn, ActionNames=[action],
                                                 ResourceArns=[resource])["EvaluationResults"][0]["EvalDecision"]
        assert decision == "allowed", (action, resource)
    do_the_work(worker, bucket)
    for call in (lambda: worker.s3.delete_bucket(Bucket=bucket),
                 lambda: worker.s3.delete_object(Bucket=bucket, Key="reports/2024/a.csv"),
                 lambda: worker.s3.put_object(Bucket=bucket, Key="elsewhere.txt", Body=b"x"),
                 lambda: worker.iam.create_access_key()):
        with pytest.raises(ClientError) as denied:
            call()
        assert denied.value.response["Error"]["Code"] == "AccessDenied"

    # again: the same work, the same policy: no new version
    again = json_of(storeroom(endpoint, "policy", "generate", "--user", worker.name, "--apply", "--json"))
    assert again["policy_arn"] == arn and again["policy_version"] == "v1" and not again["policy_changed"]
    # what it was denied, too: a new default version
    more = json_of(storeroom(endpoint, "policy", "generate", "--user", worker.name, "--apply", "--include-denied",
                             "--json"))
    assert more["policy_version"] == "v2" and more["policy_changed"]
    assert iam.get_policy(PolicyArn=arn)["Policy"]["DefaultVersionId"] == "v2"


def test_apply_with_a_name(endpoint: str, iam, worker, generated_policies: list[str]) -> None:  # type: ignore[no-untyped-def]
    name = f"{worker.name}-app"
    first = json_of(storeroom(endpoint, "policy", "generate", "--user", worker.name, "--apply", "--name", name,
                              "--json"))
    generated_policies.append(first["policy_arn"])
    assert first["policy_arn"].endswith(f":policy/storeroom/generated/{name}")
    # found again by its name, and updated (versions never pile up past IAM's five)
    for _ in range(6):
        out = json_of(storeroom(endpoint, "policy", "generate", "--user", worker.name, "--apply", "--name", name,
                                "--include-denied" if _ % 2 == 0 else "--since=30d", "--json"))
        assert out["policy_arn"] == first["policy_arn"]
    assert len(iam.list_policy_versions(PolicyArn=first["policy_arn"])["Versions"]) == 5


def test_generate_errors(endpoint: str, iam_user) -> None:  # type: ignore[no-untyped-def]
    idle = iam_user()
    error = one_line_error(storeroom(endpoint, "policy", "generate", "--user", idle.name))
    assert error.startswith(f"storeroom: {idle.name} has no events in the audit trail since ")
    assert error.endswith("nothing to generate a policy from")

    idle.client("sts").get_caller_identity()
    wait_for(make_client(endpoint, "cloudtrail"), idle.name, bool)
    error = one_line_error(storeroom(endpoint, "policy", "generate", "--user", idle.name))
    assert "has 1 event(s), none needing a permission" in error

    usage = storeroom(endpoint, "policy", "generate", "--user", idle.name, "--since", "last week")
    assert usage.returncode == 2 and "expected a duration" in usage.stderr and "Traceback" not in usage.stderr
    usage = storeroom(endpoint, "policy", "generate")
    assert usage.returncode == 2 and "Missing option '--user'" in usage.stderr


def test_a_user_named_root_is_not_the_account_root(tmp_path) -> None:  # type: ignore[no-untyped-def]
    """LookupEvents' Username "root" also files the account root's own events: they became statements on
    arn:aws:iam::ACCOUNT:root, which the simulator refused (MalformedPolicyDocument)."""
    from tests.conftest import StoreroomServer

    server = StoreroomServer(tmp_path / "data", workers=1)
    server.start()
    try:
        iam = make_client(server.endpoint, "iam")
        iam.get_user()        # the account root's own IAM calls, filed under "root"
        iam.list_access_keys()
        iam.create_user(UserName="root")
        iam.put_user_policy(UserName="root", PolicyName="s3", PolicyDocument=json.dumps({
            "Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "s3:ListAllMyBuckets",
                                                    "Resource": "*"}]}))
        key = iam.create_access_key(UserName="root")["AccessKey"]
        make_client(server.endpoint, access_key=key["AccessKeyId"], secret_key=key["SecretAccessKey"]).list_buckets()
        wait_for(make_client(server.endpoint, "cloudtrail"), "root",
                 lambda es: any(e["EventName"] == "ListBuckets" for e in es))
        result = storeroom(server.endpoint, "policy", "generate", "--user", "root", "--json")
        assert result.returncode == 0, result.stderr
        assert json_of(result)["policy"]["Statement"] == [
            {"Effect": "Allow", "Action": "s3:ListAllMyBuckets", "Resource": "*"}]
    finally:
        server.stop()
