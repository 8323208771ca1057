"""``storeroom grant``: the guide's least-privilege production setup in one command.

An IAM user (made if new), a customer-managed policy that allows exactly one bucket, or one prefix of it,
attached to the user, an access key, a 0600 ``.env`` the application reads, and a real request with that key
to prove it works.  The policy is ``arn:aws:iam::<account>:policy/storeroom/grant/<user>@<bucket>`` (user
names ≤ 64 and bucket names ≤ 63 characters fit IAM's 128 for a policy name): one grant per user and bucket,
so running the command again with another prefix or mode makes a new default version of the same policy.

The policy follows AWS's example "Allowing each IAM user access to a folder in a bucket"
(https://docs.aws.amazon.com/AmazonS3/latest/userguide/example-policies-s3.html): ``s3:ListBucket`` on the
bucket only for listings whose ``s3:prefix`` starts with the prefix, object actions on
``arn:aws:s3:::<bucket>/<prefix>*``.  ``*``, ``?`` and ``$`` in a prefix are written ``${*}``, ``${?}``,
``${$}`` so that they match themselves, not as wildcards
(https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_variables.html#policy-vars-specialchars).
"""

from __future__ import annotations

import json
import secrets
import time
from pathlib import Path
from typing import Any
from urllib.parse import unquote

import click

from storeroom.cli import keyfiles
from storeroom.cli.common import (
    EXIT_ATTENTION,
    Output,
    Target,
    aws_options,
    error_code,
    fail,
    json_option,
    paginate,
    sleep,
)

POLICY_PATH = "/storeroom/grant/"
READ_ACTIONS = ["s3:GetObject"]
WRITE_ACTIONS = ["s3:GetObject", "s3:PutObject", "s3:DeleteObject", "s3:AbortMultipartUpload",
                 "s3:ListMultipartUploadParts"]
MAX_POLICY_VERSIONS = 5  # IAM keeps at most 5 versions of a managed policy
# IAM changes reach every AWS endpoint within seconds (Storeroom: at once): how long the check retries.
PROPAGATION = 30.0


def policy_literal(text: str) -> str:
    """``text`` as policy text that matches itself: IAM's escapes for its special characters."""
    return "".join("${" + c + "}" if c in "*?$" else c for c in text)


def grant_policy(bucket: str, prefix: str, read_write: bool) -> dict[str, Any]:
    """The least-privilege policy for ``bucket`` (and ``prefix``): list it, read (and write) its objects."""
    literal = policy_literal(prefix)
    listing: dict[str, Any] = {"Sid": "ListTheGrantedPrefix" if prefix else "ListTheBucket", "Effect": "Allow",
                               "Action": "s3:ListBucket", "Resource": f"arn:aws:s3:::{bucket}"}
    if prefix:
        listing["Condition"] = {"StringLike": {"s3:prefix": [f"{literal}*"]}}
    return {
        "Version": "2012-10-17",
        "Statement": [
            listing,
            {"Sid": "BucketRegion", "Effect": "Allow", "Action": "s3:GetBucketLocation",
             "Resource": f"arn:aws:s3:::{bucket}"},
            {"Sid": "ReadWriteObjects" if read_write else "ReadObjects", "Effect": "Allow",
             "Action": WRITE_ACTIONS if read_write else READ_ACTIONS,
             "Resource": f"arn:aws:s3:::{bucket}/{literal}*"},
        ],
    }


@click.command()
@click.argument("user")
@click.option("--bucket", required=True, help="the bucket the user may use (it must exist)")
@click.option("--prefix", default="", help="only keys starting with this (end it with / for a folder)")
@click.option("--read-only", "mode", flag_value="read-only", help="list and get objects")
@click.option("--read-write", "mode", flag_value="read-write", default=True,
              help="list, get, put and delete objects (the default)")
@click.option("--env-file", type=click.Path(dir_okay=False, path_type=Path),
              help="write the key, region and endpoint here (mode 0600; other lines kept); without it the "
                   "secret is printed once")
@click.option("--csv", "csv_file", type=click.Path(dir_okay=False, path_type=Path),
              help="also (or instead) write the key as AWS's CSV 'Access key ID,Secret access key' here, as the "
                   "console's Download .csv file (mode 0600)")
@click.option("--no-check", is_flag=True, help="skip the request made with the new key to prove it works")
@json_option
@aws_options
def grant(target: Target, user: str, bucket: str, prefix: str, mode: str, env_file: Path | None,
          csv_file: Path | None, no_check: bool, as_json: bool) -> None:
    """Give USER access to one bucket (or one prefix of it) and nothing else.

    \b
    - creates the IAM user USER if it does not exist;
    - creates (or, run again, updates with a new default version) the customer-managed policy
      storeroom/grant/USER@BUCKET allowing exactly that bucket and prefix, and attaches it;
    - creates an access key, unless --env-file already holds an active key of USER (re-runs reuse it);
    - writes AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_REGION, AWS_DEFAULT_REGION, AWS_ENDPOINT_URL to
      --env-file, and the key to --csv (with neither, the key is printed once);
    - proves it with that key: an upload and a delete under the prefix (read-only: a listing, and an upload
      that is denied).

    Exit status: 0 done and proven, 1 the check failed, 2 errors.
    """
    out = Output(as_json)
    if "/" in bucket:  # what a user means by bucket/folder (botocore said it in two lines of regular expressions)
        name, _, rest = bucket.partition("/")
        fail(f"--bucket {bucket!r} is not a bucket name: give the bucket alone and the folder with --prefix "
             f"(--bucket {name} --prefix {rest.rstrip('/') + '/' if rest else ''})")
    for path in (env_file, csv_file):
        if path and (problem := keyfiles.check_writable(path)):
            fail(problem)
    read_write = mode == "read-write"
    iam, s3 = target.client("iam"), target.client("s3")
    account = target.client("sts").get_caller_identity()["Account"]
    region = _bucket_region(s3, bucket) or target.region_name
    reuse = _reusable_key(iam, user, env_file)  # refused here, before anything is made, if no key can be
    user_created = _ensure_user(iam, user)
    policy_arn, version, changed = _ensure_policy(iam, account, user, bucket, grant_policy(bucket, prefix,
                                                                                           read_write))
    iam.attach_user_policy(UserName=user, PolicyArn=policy_arn)
    out.note(f"{'Created' if user_created else 'Found'} user {user}; policy {policy_arn} "
             f"{version}{'' if changed else ' (unchanged)'} attached.")
    key_created = reuse is None
    if reuse is None:
        made = iam.create_access_key(UserName=user)["AccessKey"]
        key_id, secret = made["AccessKeyId"], made["SecretAccessKey"]
    else:
        key_id, secret = reuse
    if key_created:
        out.note(f"Created access key {key_id}.")
        if not target.wait_until_key_works(key_id, secret):
            fail(f"the new key {key_id} was not accepted within a minute")
    values = {"AWS_ACCESS_KEY_ID": key_id, "AWS_SECRET_ACCESS_KEY": secret, "AWS_REGION": region,
              "AWS_DEFAULT_REGION": region}
    if target.endpoint_url:
        values["AWS_ENDPOINT_URL"] = target.endpoint_url
    if env_file:
        keyfiles.update_env_file(env_file, values)
        out.note(f"Wrote {', '.join(values)} to {env_file} (mode 0600).")
    if csv_file:
        keyfiles.write_private(csv_file, keyfiles.credentials_csv(key_id, secret))
        out.note(f"Wrote {key_id} to {csv_file} (mode 0600).")
    written = env_file or csv_file
    result: dict[str, Any] = {
        "user": user, "user_created": user_created, "bucket": bucket, "prefix": prefix, "mode": mode,
        "policy_arn": policy_arn, "policy_version": version, "policy_changed": changed, "access_key_id": key_id,
        "key_created": key_created, "region": region, "endpoint_url": target.endpoint_url,
        "env_file": str(env_file) if env_file else None, "csv_file": str(csv_file) if csv_file else None,
    }
    if not written:
        result["secret_access_key"] = secret
    problem = None
    if not no_check:
        checker = target.client_as("s3", key_id, secret, region=region)
        result["check"], problem = (_check_read_write if read_write else _check_read_only)(
            checker, s3, bucket, prefix)
    _show(out, result, values, written, problem)
    if problem:
        raise SystemExit(EXIT_ATTENTION)


def _bucket_region(s3: Any, bucket: str) -> str | None:
    try:
        location = s3.get_bucket_location(Bucket=bucket).get("LocationConstraint")
    except Exception as e:
        if error_code(e) in ("NoSuchBucket", "404"):
            fail(f"NoSuchBucket: bucket {bucket} does not exist (create it first: aws s3 mb s3://{bucket})")
        raise
    # S3's GetBucketLocation: no constraint is us-east-1, and the legacy "EU" is eu-west-1.
    region = {None: "us-east-1", "": "us-east-1", "EU": "eu-west-1"}.get(location, location)
    return str(region) if region else None


def _ensure_user(iam: Any, user: str) -> bool:
    """True when the user had to be created."""
    try:
        iam.get_user(UserName=user)
        return False
    except Exception as e:
        if error_code(e) != "NoSuchEntity":
            raise
    iam.create_user(UserName=user, Tags=[{"Key": "storeroom:grant", "Value": "created by storeroom grant"}])
    return True


def _ensure_policy(iam: Any, account: str, user: str, bucket: str,
                   document: dict[str, Any]) -> tuple[str, str, bool]:
    """(policy ARN, default version, changed?): created, given a new default version, or left as it is."""
    name = f"{user}@{bucket}"
    arn = f"arn:aws:iam::{account}:policy{POLICY_PATH}{name}"
    text = json.dumps(document, indent=2)
    try:
        policy = iam.get_policy(PolicyArn=arn)["Policy"]
    except Exception as e:
        if error_code(e) != "NoSuchEntity":
            raise
        created = iam.create_policy(PolicyName=name, Path=POLICY_PATH, PolicyDocument=text,
                                    Description=f"storeroom grant: {user} on {bucket}")["Policy"]
        return arn, str(created["DefaultVersionId"]), True
    current = iam.get_policy_version(PolicyArn=arn, VersionId=policy["DefaultVersionId"])["PolicyVersion"]
    if _document(current["Document"]) == document:
        return arn, str(policy["DefaultVersionId"]), False
    versions = sorted(paginate(iam, "list_policy_versions", "Versions", PolicyArn=arn),
                      key=lambda v: v["CreateDate"])
    old = [v for v in versions if not v["IsDefaultVersion"]]
    if len(versions) >= MAX_POLICY_VERSIONS and old:
        iam.delete_policy_version(PolicyArn=arn, VersionId=old[0]["VersionId"])
    made = iam.create_policy_version(PolicyArn=arn, PolicyDocument=text, SetAsDefault=True)["PolicyVersion"]
    return arn, str(made["VersionId"]), True


def _document(value: Any) -> Any:
    """A policy document as boto3 gives it back: decoded already, or (older clients) URL-encoded JSON."""
    return json.loads(unquote(value)) if isinstance(value, str) else value


def _reusable_key(iam: Any, user: str, env_file: Path | None) -> tuple[str, str] | None:
    """The active key of ``user`` that ``env_file`` holds already (a re-run), or None when a new one is to be
    made; fails when the user has IAM's 2 keys already and the file holds neither."""
    try:
        keys = list(paginate(iam, "list_access_keys", "AccessKeyMetadata", UserName=user))
    except Exception as e:
        if error_code(e) != "NoSuchEntity":
            raise
        return None
    written = keyfiles.read_env_file(env_file) if env_file else {}
    key_id, secret = written.get("AWS_ACCESS_KEY_ID"), written.get("AWS_SECRET_ACCESS_KEY")
    if key_id and secret and any(k["AccessKeyId"] == key_id and k["Status"] == "Active" for k in keys):
        return key_id, secret
    if len(keys) >= 2:
        listing = ", ".join(f"{k['AccessKeyId']} ({k['Status']})" for k in keys)
        fail(f"{user} already has 2 access keys ({listing}), IAM's limit, and --env-file holds neither: delete "
             f"one nothing uses (aws iam delete-access-key --user-name {user} --access-key-id ...; `storeroom "
             f"keys report` shows when each was last used)")
    return None


def _retrying(call: Any) -> Any:
    """``call()``, again while IAM changes are still on their way (AccessDenied, a key not yet known)."""
    deadline = time.monotonic() + PROPAGATION
    while True:
        try:
            return call()
        except Exception as e:
            if error_code(e) not in ("AccessDenied", "InvalidAccessKeyId") or time.monotonic() > deadline:
                raise
            sleep(2)


def _check_read_write(s3: Any, admin_s3: Any, bucket: str, prefix: str) -> tuple[str, str | None]:
    key = f"{prefix}.storeroom-grant-check-{secrets.token_hex(4)}"
    try:
        _retrying(lambda: s3.put_object(Bucket=bucket, Key=key, Body=b"storeroom grant check\n"))
        s3.list_objects_v2(Bucket=bucket, Prefix=prefix, MaxKeys=1)
        s3.delete_object(Bucket=bucket, Key=key)
    except Exception as e:
        if error_code(e) is None:
            raise
        return "failed", f"the new key could not upload, list and delete s3://{bucket}/{key}: {e}"
    finally:
        _remove_every_version(admin_s3, bucket, key)
    done = f"uploaded, listed and deleted s3://{bucket}/{key}"
    if prefix and _could_upload(s3, admin_s3, bucket, f".storeroom-grant-check-{secrets.token_hex(4)}"):
        return done, (f"the key could also upload outside {prefix} in s3://{bucket}: other policies of the user "
                      f"(its groups, other attached or inline policies) allow more than this grant")
    return done, None


def _check_read_only(s3: Any, admin_s3: Any, bucket: str, prefix: str) -> tuple[str, str | None]:
    key = f"{prefix}.storeroom-grant-check-{secrets.token_hex(4)}"
    try:
        _retrying(lambda: s3.list_objects_v2(Bucket=bucket, Prefix=prefix, MaxKeys=1))
    except Exception as e:
        if error_code(e) is None:
            raise
        return "failed", f"the new key could not list s3://{bucket}/{prefix}: {e}"
    if not _could_upload(s3, admin_s3, bucket, key):
        return f"listed s3://{bucket}/{prefix}; an upload was denied", None
    return "failed", (f"the key could upload s3://{bucket}/{key} although granted read-only: other policies of "
                      f"the user (its groups, other attached or inline policies) allow more")


def _could_upload(s3: Any, admin_s3: Any, bucket: str, key: str) -> bool:
    """Whether the new key may write ``key`` (what the grant should refuse); nothing is left behind."""
    try:
        s3.put_object(Bucket=bucket, Key=key, Body=b"storeroom grant check\n")
    except Exception as e:
        if error_code(e) == "AccessDenied":
            return False
        raise
    _remove_every_version(admin_s3, bucket, key)
    return True


def _remove_every_version(admin_s3: Any, bucket: str, key: str) -> None:
    """The check's object gone for good, as the administrator: in a versioned bucket a plain DELETE leaves its
    version and a delete marker behind, which the granted user may not remove."""
    try:
        listed = admin_s3.list_object_versions(Bucket=bucket, Prefix=key)
        for entry in listed.get("Versions", []) + listed.get("DeleteMarkers", []):
            if entry["Key"] == key:
                admin_s3.delete_object(Bucket=bucket, Key=key, VersionId=entry["VersionId"])
    except Exception as e:  # an administrator without s3:ListBucketVersions: as far as they may
        if error_code(e) is None:
            raise
        admin_s3.delete_object(Bucket=bucket, Key=key)


def _show(out: Output, result: dict[str, Any], values: dict[str, str], written: Path | None,
          problem: str | None) -> None:
    if out.as_json:
        out.json(result | ({"error": problem} if problem else {}))
    else:
        scope = f"s3://{result['bucket']}/{result['prefix']}"
        out.line(f"Granted {result['user']} {result['mode']} access to {scope} "
                 f"(policy {result['policy_arn']}, {result['policy_version']}).")
        if not written:
            out.line("The key (shown once; put it where the application reads its environment):")
            for name, value in values.items():
                out.line(f"  {name}={value}")
        if result.get("check"):
            out.line(f"Check with the new key: {result['check']}.")
    if problem:
        out.note(f"storeroom: {problem}")
