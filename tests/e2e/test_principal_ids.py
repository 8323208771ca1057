"""Users and roles named in trust policies and bucket policies are stored by unique id, as AWS stores them
(storeroom/iam/principal_ids.py): a user or role deleted and made again under the same name gets nothing the
first one was granted, a renamed user keeps its grants, and the documents read back with the principal's current
ARN, or with the bare id once it is gone.  Policies an earlier version stored with ARNs are converted at start."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest
from botocore.exceptions import ClientError

from tests.conftest import StoreroomServer, make_client
from tests.e2e.conftest import trust_policy
from tests.e2e.helpers import meta_rows, meta_write, unique_name
from tests.e2e.iam_cleanup import delete_role_fully, delete_user_fully
from tests.e2e.test_sts import session_client


def account(iam: Any) -> str:
    return str(iam.get_user()["User"]["Arn"].split(":")[4])


def user_with_key(endpoint: str, iam: Any, name: str, **kwargs: Any) -> tuple[str, Any]:
    """Makes user ``name`` with an access key: (its unique id, a factory of clients signed as it)."""
    user_id = iam.create_user(UserName=name, **kwargs)["User"]["UserId"]
    key = iam.create_access_key(UserName=name)["AccessKey"]

    def client(service: str) -> Any:
        return make_client(endpoint, service, access_key=key["AccessKeyId"], secret_key=key["SecretAccessKey"])
    return str(user_id), client


def read_policy(s3: Any, bucket: str) -> dict[str, Any]:
    return dict(json.loads(s3.get_bucket_policy(Bucket=bucket)["Policy"]))


def grant_get(principal: str, bucket: str) -> str:
    return json.dumps({"Version": "2012-10-17", "Statement": [{
        "Effect": "Allow", "Principal": {"AWS": principal}, "Action": "s3:GetObject",
        "Resource": f"arn:aws:s3:::{bucket}/*"}]})


def trusted(iam: Any, role: str) -> Any:
    return iam.get_role(RoleName=role)["Role"]["AssumeRolePolicyDocument"]["Statement"][0]["Principal"]["AWS"]


def refused(fn: Callable[[], object]) -> str:
    with pytest.raises(ClientError) as exc:
        fn()
    return str(exc.value.response["Error"]["Code"])


def test_a_recreated_user_is_not_trusted_by_the_role(endpoint: str, iam: Any,
                                                     new_role: Callable[..., str]) -> None:
    name = unique_name("carol")
    arn = f"arn:aws:iam::{account(iam)}:user/{name}"
    try:
        old_id, carol = user_with_key(endpoint, iam, name)
        role = new_role(trust_policy({"Principal": {"AWS": arn}, "Action": "sts:AssumeRole"}))
        role_arn = iam.get_role(RoleName=role)["Role"]["Arn"]
        carol("sts").assume_role(RoleArn=role_arn, RoleSessionName="s1")
        assert trusted(iam, role) == arn  # read back by ARN while the user exists
        assert [r for r in iam.list_roles()["Roles"] if r["RoleName"] == role][0][
            "AssumeRolePolicyDocument"]["Statement"][0]["Principal"]["AWS"] == arn
        delete_user_fully(iam, name)
        assert trusted(iam, role) == old_id  # "AWS can no longer map it back to an ARN"
        details = iam.get_account_authorization_details(Filter=["Role"])["RoleDetailList"]
        assert [d for d in details if d["RoleName"] == role][0][
            "AssumeRolePolicyDocument"]["Statement"][0]["Principal"]["AWS"] == old_id
        new_id, impostor = user_with_key(endpoint, iam, name)
        assert new_id != old_id
        assert refused(lambda: impostor("sts").assume_role(RoleArn=role_arn, RoleSessionName="s1")) == "AccessDenied"
        assert trusted(iam, role) == old_id
        # saved again with the ARN, the trust is the new user's
        iam.update_assume_role_policy(RoleName=role, PolicyDocument=trust_policy(
            {"Principal": {"AWS": arn}, "Action": "sts:AssumeRole"}))
        impostor("sts").assume_role(RoleArn=role_arn, RoleSessionName="s1")
    finally:
        delete_user_fully(iam, name)


def test_a_recreated_user_gets_nothing_from_the_bucket_policy(endpoint: str, iam: Any, s3: Any,
                                                              bucket: str) -> None:
    name = unique_name("carol")
    arn = f"arn:aws:iam::{account(iam)}:user/{name}"
    s3.put_object(Bucket=bucket, Key="k", Body=b"secret")
    try:
        old_id, carol = user_with_key(endpoint, iam, name)
        s3.put_bucket_policy(Bucket=bucket, Policy=grant_get(arn, bucket))
        assert carol("s3").get_object(Bucket=bucket, Key="k")["Body"].read() == b"secret"
        assert read_policy(s3, bucket)["Statement"][0]["Principal"]["AWS"] == arn
        delete_user_fully(iam, name)
        assert read_policy(s3, bucket)["Statement"][0]["Principal"]["AWS"] == old_id
        _, impostor = user_with_key(endpoint, iam, name)
        assert refused(lambda: impostor("s3").get_object(Bucket=bucket, Key="k")) == "AccessDenied"
        assert read_policy(s3, bucket)["Statement"][0]["Principal"]["AWS"] == old_id
        # the id of a deleted user names nobody that can be stored again (AWS: "Invalid principal in policy")
        assert refused(lambda: s3.put_bucket_policy(Bucket=bucket, Policy=grant_get(old_id, bucket))) \
            == "MalformedPolicy"
    finally:
        delete_user_fully(iam, name)


def test_a_renamed_user_keeps_its_grants(endpoint: str, iam: Any, s3: Any, bucket: str,
                                         new_role: Callable[..., str]) -> None:
    name, renamed = unique_name("dave"), unique_name("david")
    acct = account(iam)
    s3.put_object(Bucket=bucket, Key="k", Body=b"data")
    try:
        _, dave = user_with_key(endpoint, iam, name)
        old_arn = f"arn:aws:iam::{acct}:user/{name}"
        role = new_role(trust_policy({"Principal": {"AWS": old_arn}, "Action": "sts:AssumeRole"}))
        s3.put_bucket_policy(Bucket=bucket, Policy=grant_get(old_arn, bucket))
        iam.update_user(UserName=name, NewUserName=renamed, NewPath="/moved/")
        new_arn = f"arn:aws:iam::{acct}:user/moved/{renamed}"
        assert dave("s3").get_object(Bucket=bucket, Key="k")["Body"].read() == b"data"
        dave("sts").assume_role(RoleArn=iam.get_role(RoleName=role)["Role"]["Arn"], RoleSessionName="s1")
        assert trusted(iam, role) == new_arn
        assert read_policy(s3, bucket)["Statement"][0]["Principal"]["AWS"] == new_arn
        # a new user under the old name is someone else
        _, other = user_with_key(endpoint, iam, name)
        assert refused(lambda: other("s3").get_object(Bucket=bucket, Key="k")) == "AccessDenied"
    finally:
        delete_user_fully(iam, renamed)
        delete_user_fully(iam, name)


def test_a_recreated_role_gets_nothing_from_the_bucket_policy(endpoint: str, iam: Any, s3: Any, bucket: str,
                                                              new_role: Callable[..., str]) -> None:
    acct = account(iam)
    user, role = unique_name("u"), unique_name("r")
    s3.put_object(Bucket=bucket, Key="k", Body=b"data")
    trust = trust_policy({"Principal": {"AWS": f"arn:aws:iam::{acct}:user/{user}"}, "Action": "sts:AssumeRole"})
    try:
        _, client = user_with_key(endpoint, iam, user)
        new_role(trust, RoleName=role)
        role_arn = f"arn:aws:iam::{acct}:role/{role}"
        old_id = iam.get_role(RoleName=role)["Role"]["RoleId"]
        s3.put_bucket_policy(Bucket=bucket, Policy=grant_get([role_arn, "arn:aws:iam::111122223333:root"], bucket))

        def session() -> Any:
            creds = client("sts").assume_role(RoleArn=role_arn, RoleSessionName="s1")["Credentials"]
            return session_client(endpoint, creds)
        assert session().get_object(Bucket=bucket, Key="k")["Body"].read() == b"data"
        delete_role_fully(iam, role)
        new_role(trust, RoleName=role)
        assert refused(lambda: session().get_object(Bucket=bucket, Key="k")) == "AccessDenied"
        # other principals are kept as written
        assert read_policy(s3, bucket)["Statement"][0]["Principal"]["AWS"] == [old_id,
                                                                             "arn:aws:iam::111122223333:root"]
    finally:
        delete_user_fully(iam, user)


@pytest.mark.parametrize("principal", ["user/{nobody}", "user/*", "role/{nobody}", "role/*", "user/x/../{me}",
                                       "user/wrong-path/{me}"])
def test_bucket_policy_principals_must_exist(iam: Any, s3: Any, bucket: str, new_user: Callable[..., str],
                                             principal: str) -> None:
    me = new_user()
    arn = f"arn:aws:iam::{account(iam)}:" + principal.format(nobody=unique_name("nobody"), me=me)
    with pytest.raises(ClientError) as exc:
        s3.put_bucket_policy(Bucket=bucket, Policy=grant_get(arn, bucket))
    err = exc.value.response
    assert (err["ResponseMetadata"]["HTTPStatusCode"], err["Error"]["Code"], err["Error"]["Message"]) == (
        400, "MalformedPolicy", "Invalid principal in policy")
    assert refused(lambda: s3.get_bucket_policy(Bucket=bucket)) == "NoSuchBucketPolicy"


def test_bucket_policy_wildcards_in_other_accounts_arns_are_refused(s3: Any, bucket: str) -> None:
    for arn in ("arn:aws:iam::111122223333:user/*", "arn:aws:iam::111122223333:role/app-*"):
        with pytest.raises(ClientError) as exc:
            s3.put_bucket_policy(Bucket=bucket, Policy=grant_get(arn, bucket))
        assert exc.value.response["Error"]["Message"] == "Invalid principal in policy"
    s3.put_bucket_policy(Bucket=bucket, Policy=grant_get("arn:aws:iam::111122223333:user/them", bucket))


def test_policies_stored_with_arns_by_an_earlier_version_are_converted_at_start(
        fresh_server: StoreroomServer) -> None:
    endpoint = fresh_server.endpoint
    iam, s3 = make_client(endpoint, "iam"), make_client(endpoint)
    acct = account(iam)
    user_id, alice = user_with_key(endpoint, iam, "alice")
    arn, ghost = f"arn:aws:iam::{acct}:user/alice", f"arn:aws:iam::{acct}:user/ghost"
    trust = trust_policy({"Principal": {"AWS": arn}, "Action": "sts:AssumeRole"})
    iam.create_role(RoleName="app", AssumeRolePolicyDocument=trust)
    s3.create_bucket(Bucket="legacy")
    s3.put_object(Bucket="legacy", Key="k", Body=b"data")
    s3.put_bucket_policy(Bucket="legacy", Policy=grant_get(arn, "legacy"))
    fresh_server.stop()
    # as an earlier version stored them: the ARNs as written (and one naming a user deleted since)
    meta_write(fresh_server, "UPDATE iam_roles SET trust_policy = ? WHERE name = ?", (trust, "app"))
    meta_write(fresh_server, "UPDATE bucket_policies SET document = ? WHERE bucket = ?",
           (grant_get([arn, ghost], "legacy"), "legacy"))
    meta_write(fresh_server, "DELETE FROM kv WHERE name = ?", ("principal_ids",))
    fresh_server.start()
    [(stored,)] = meta_rows(fresh_server, "SELECT trust_policy FROM iam_roles WHERE name = ?", ("app",))
    assert user_id in str(stored) and arn not in str(stored)
    [(stored,)] = meta_rows(fresh_server, "SELECT document FROM bucket_policies WHERE bucket = ?", ("legacy",))
    assert json.loads(str(stored))["Statement"][0]["Principal"]["AWS"] == [user_id, ghost]
    assert trusted(iam, "app") == arn
    alice("sts").assume_role(RoleArn=f"arn:aws:iam::{acct}:role/app", RoleSessionName="s1")
    assert alice("s3").get_object(Bucket="legacy", Key="k")["Body"].read() == b"data"
    # the ARN of a user that did not exist at the upgrade names nobody
    _, ghost_client = user_with_key(endpoint, iam, "ghost")
    assert refused(lambda: ghost_client("s3").get_object(Bucket="legacy", Key="k")) == "AccessDenied"
    delete_user_fully(iam, "alice")
    _, impostor = user_with_key(endpoint, iam, "alice")
    assert refused(lambda: impostor("s3").get_object(Bucket="legacy", Key="k")) == "AccessDenied"
    assert refused(lambda: impostor("sts").assume_role(RoleArn=f"arn:aws:iam::{acct}:role/app",
                                                       RoleSessionName="s1")) == "AccessDenied"
    assert trusted(iam, "app") == user_id
