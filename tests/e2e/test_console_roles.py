"""The IAM console's Roles pages in Chromium: create a role from a trusted-entity template with
AmazonS3FullAccess, its permissions, its trust policy (IAM's message at its line), "Revoke active sessions"
ending a live session, and deleting it."""

from __future__ import annotations

import json
import time

import boto3

from tests.conftest import REGION, make_client
from tests.e2e.console import screenshot, sign_in_root


def test_roles_pages(console_server, browser) -> None:  # type: ignore[no-untyped-def]
    iam = make_client(console_server.endpoint, "iam")
    page = sign_in_root(browser, console_server)
    page.wait_for_url("**/")
    page.get_by_role("link", name="IAM", exact=True).click()
    page.get_by_role("navigation", name="IAM").get_by_role("link", name="Roles", exact=True).click()
    page.get_by_role("link", name="Create role").click()
    page.get_by_role("link", name="Applications (EC2's service principal)", exact=False).click()
    assert "ec2.amazonaws.com" in page.get_by_label("Trust policy").input_value()
    page.get_by_label("Search", exact=True).fill("AmazonS3FullAccess")
    page.get_by_label("AmazonS3FullAccess", exact=True).check()
    page.get_by_label("Role name").fill("app-role")
    page.get_by_label("Description").fill("the application's role")
    page.get_by_role("button", name="Create role").click()
    assert page.get_by_role("status").inner_text() == "Role app-role created."
    assert page.get_by_role("link", name="AmazonS3FullAccess").is_visible()
    role = iam.get_role(RoleName="app-role")["Role"]
    assert role["Description"] == "the application's role"
    assert role["AssumeRolePolicyDocument"]["Statement"][0]["Principal"] == {"Service": "ec2.amazonaws.com"}
    screenshot(page, "iam-role")

    # the summary's Edit (AWS's console: description and maximum session duration can change after creation)
    page.get_by_text("Edit", exact=True).click()
    page.get_by_label("Description").fill("the application's role, 4 hours")
    page.get_by_label("Maximum session duration").select_option(label="4 hours")
    page.get_by_role("button", name="Save changes").click()
    assert page.get_by_role("status").inner_text() == "Role app-role updated."
    role = iam.get_role(RoleName="app-role")["Role"]
    assert (role["Description"], role["MaxSessionDuration"]) == ("the application's role, 4 hours", 14400)
    page.get_by_text("Edit", exact=True).click()
    page.get_by_label("Description").fill("rocket \U0001f680")   # outside IAM's Description pattern
    page.get_by_role("button", name="Save changes").click()
    assert "ValidationError" in page.get_by_role("status").inner_text()
    assert iam.get_role(RoleName="app-role")["Role"]["Description"] == "the application's role, 4 hours"

    # a trust policy IAM refuses: its message, placed at the statement
    page.get_by_role("tab", name="Trust relationships").click()
    account = role["Arn"].split(":")[4]
    trust = {"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Principal": {"Service": "ec2.amazonaws.com"}, "Action": "sts:AssumeRole"},
        {"Effect": "Allow", "Principal": {"AWS": f"arn:aws:iam::{account}:root"}, "Action": "sts:AssumeRole",
         "Resource": "*"}]}
    page.get_by_label("Trust policy").fill(json.dumps(trust, indent=2))
    page.get_by_role("button", name="Update policy").click()
    alert = page.get_by_role("alert").inner_text()
    assert "MalformedPolicyDocument: Has prohibited field Resource" in alert
    assert "Line 11, column 5: Statement 2" in alert
    del trust["Statement"][1]["Resource"]
    page.get_by_label("Trust policy").fill(json.dumps(trust, indent=2))
    page.get_by_role("button", name="Update policy").click()
    assert page.get_by_role("status").inner_text() == "Trust policy updated."

    # a live session of the role, then "Revoke active sessions"
    iam.create_user(UserName="operator")
    iam.put_user_policy(UserName="operator", PolicyName="assume", PolicyDocument=json.dumps({
        "Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "sts:AssumeRole",
                                                "Resource": role["Arn"]}]}))
    key = iam.create_access_key(UserName="operator")["AccessKey"]
    sts = make_client(console_server.endpoint, "sts", access_key=key["AccessKeyId"], secret_key=key["SecretAccessKey"])
    creds = sts.assume_role(RoleArn=role["Arn"], RoleSessionName="live")["Credentials"]
    s3 = boto3.client("s3", endpoint_url=console_server.endpoint, region_name=REGION,
                      aws_access_key_id=creds["AccessKeyId"], aws_secret_access_key=creds["SecretAccessKey"],
                      aws_session_token=creds["SessionToken"])
    s3.list_buckets()
    time.sleep(1.1)
    page.get_by_role("tab", name="Revoke sessions").click()
    page.get_by_label("I acknowledge that I am revoking all active sessions for this role.").check()
    page.get_by_role("button", name="Revoke active sessions").click()
    assert page.get_by_role("status").inner_text().startswith("Revoked the sessions of app-role issued before ")
    try:
        s3.list_buckets()
        raise AssertionError("the revoked session still works")
    except s3.exceptions.ClientError as err:
        assert err.response["Error"]["Code"] == "AccessDenied"

    # the list, then delete (policies first, as AWS's console does)
    page.get_by_role("navigation", name="IAM").get_by_role("link", name="Roles", exact=True).click()
    row = page.get_by_role("row", name="app-role")
    assert "AWS service: ec2.amazonaws.com" in row.inner_text()
    page.get_by_role("link", name="app-role").click()
    page.get_by_label("Type the role name to delete it").fill("app-role")
    page.get_by_role("button", name="Delete").click()
    assert page.get_by_role("status").inner_text() == "Role app-role deleted."
    assert all(r["RoleName"] != "app-role" for r in iam.list_roles()["Roles"])
