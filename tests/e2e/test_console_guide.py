"""The user's guide (../shared/guide.md), click for click in a real browser, as root: sign in, find IAM,
create ``user_name`` with AmazonS3FullAccess, create its access key for "Local code", download the CSV; then
the guide's own boto3 code, unchanged, uploads a file with the CSV's keys.  And the secret is shown once."""

from __future__ import annotations

import csv
import io
import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path

from tests.conftest import make_client
from tests.e2e.console import screenshot, sign_in_root

# The guide's "Best Practice: Use Environment Variables" code, then its upload line, as written there
GUIDE_CODE = """\
import os
import boto3

s3_client = boto3.client(
    's3',
    aws_access_key_id=os.environ.get('AWS_ACCESS_KEY_ID'),
    aws_secret_access_key=os.environ.get('AWS_SECRET_ACCESS_KEY'),
    region_name=os.environ.get('AWS_REGION', 'us-east-1')
)

# Now you can upload files
s3_client.upload_file('local_file.txt', 'your-bucket-name', 'uploaded_file.txt')
"""


def test_the_guide_in_the_console(console_server, browser, tmp_path: Path) -> None:
    page = sign_in_root(browser, console_server)
    page.wait_for_url("**/")
    screenshot(page, "home")

    # Step 1: "In the search bar at the top, type IAM", "Click on IAM from the search results"
    search = page.get_by_role("searchbox", name="Search services")
    search.fill("IAM")
    search.press("Enter")
    page.get_by_role("navigation", name="Search results").get_by_role("link", name="IAM").click()
    page.get_by_role("heading", name="IAM dashboard").wait_for()

    # Step 2: "In the left sidebar, click on Users", "Click the Create user button"
    page.get_by_role("navigation", name="IAM").get_by_role("link", name="Users", exact=True).click()
    page.get_by_role("link", name="Create user").click()

    # Step 3: "User name: Enter user_name", "Click Next"
    page.get_by_label("User name").fill("user_name")
    page.get_by_role("button", name="Next").click()

    # Step 4: "select Attach policies directly", "type AmazonS3FullAccess" in the search box, check it, Next
    page.get_by_label("Attach policies directly").check()
    page.get_by_role("searchbox", name="Search", exact=True).fill("AmazonS3FullAccess")
    assert not page.get_by_role("checkbox", name="AmazonS3ReadOnlyAccess").is_visible()   # filtered out
    page.get_by_role("checkbox", name="AmazonS3FullAccess", exact=True).check()
    screenshot(page, "create-user-permissions")
    page.get_by_role("button", name="Next").click()

    # Step 5: review (user name, permissions), "Click Create user"
    page.get_by_role("heading", name="Review and create").wait_for()
    assert page.get_by_role("cell", name="AmazonS3FullAccess").is_visible()
    page.get_by_role("button", name="Create user").click()

    # Step 6: "You'll see a success message", "Click on the newly created user user_name from the users list"
    assert page.get_by_role("status").inner_text() == "User user_name created successfully."
    screenshot(page, "users")
    page.get_by_role("link", name="user_name", exact=True).click()

    # Step 7: "Click on the Security credentials tab", "Access keys section", "Click Create access key"
    page.get_by_role("tab", name="Security credentials").click()
    page.get_by_role("heading", name="Access keys (0)").wait_for()
    page.get_by_role("link", name="Create access key").click()

    # Step 8: "Select Local code", "Check the confirmation checkbox", "Click Next"
    page.get_by_role("heading", name="Access key best practices & alternatives").wait_for()
    page.get_by_label("Local code").check()
    page.get_by_label("I understand the above recommendation and want to proceed to create an access key.").check()
    page.get_by_role("button", name="Next").click()

    # Step 9: the description, "Click Create access key"
    page.get_by_label("Description tag value").fill("Python backend S3 upload credentials")
    page.get_by_role("button", name="Create access key").click()

    # Step 10: "Access key ID" and "Secret access key"; the secret hidden until "Show"; "Download .csv file"
    page.get_by_role("heading", name="Retrieve access keys").wait_for()
    key_id = page.get_by_label("Access key", exact=True).input_value()
    secret_field = page.get_by_label("Secret access key")
    assert re.fullmatch(r"AKIA[A-Z2-7]{16}", key_id)
    assert secret_field.get_attribute("type") == "password"
    screenshot(page, "retrieve-access-keys")
    page.get_by_role("button", name="Show").click()
    assert secret_field.get_attribute("type") == "text"
    secret = secret_field.input_value()
    assert len(secret) == 40
    with page.expect_download() as download:
        page.get_by_role("button", name="Download .csv file").click()
    assert download.value.suggested_filename == "user_name_accessKeys.csv"
    rows = list(csv.reader(io.StringIO(Path(download.value.path()).read_text())))
    assert rows == [["Access key ID", "Secret access key"], [key_id, secret]]

    # The guide's Python code, unchanged, with the CSV's keys in the environment
    make_client(console_server.endpoint).create_bucket(Bucket="your-bucket-name")
    (tmp_path / "local_file.txt").write_text("hello from the guide\n")
    env = {**os.environ, "AWS_ACCESS_KEY_ID": rows[1][0], "AWS_SECRET_ACCESS_KEY": rows[1][1],
           "AWS_REGION": "us-east-1", "AWS_ENDPOINT_URL": console_server.endpoint}
    subprocess.run([sys.executable, "-c", GUIDE_CODE], cwd=tmp_path, env=env, check=True, timeout=60)
    got = make_client(console_server.endpoint).get_object(Bucket="your-bucket-name", Key="uploaded_file.txt")
    assert got["Body"].read() == b"hello from the guide\n"

    # (6) "You cannot view the secret access key again after closing this page": not after "Done"...
    retrieve_url = page.url
    page.get_by_role("link", name="Done").click()
    page.get_by_role("heading", name="Access keys (1)").wait_for()
    assert page.get_by_role("cell", name=key_id).is_visible()
    assert page.get_by_role("cell", name="Python backend S3 upload credentials").is_visible()
    screenshot(page, "user-security-credentials")
    assert secret not in page.content()
    # ... nor by going back, nor by loading the page again
    page.go_back()
    assert "can no longer be shown" in page.get_by_role("alert").inner_text()
    assert secret not in page.content()
    page.goto(retrieve_url)
    assert "can no longer be shown" in page.get_by_role("alert").inner_text()
    assert secret not in page.content()
    page.reload()
    assert secret not in page.content()

    # The console acted through the IAM API as root: its calls are in the audit trail like any other, with the
    # browser's address and user agent, and the secret is not
    trail = make_client(console_server.endpoint, "cloudtrail")
    deadline = time.monotonic() + 15
    events: list[dict[str, object]] = []
    while not events and time.monotonic() < deadline:
        events = trail.lookup_events(LookupAttributes=[{"AttributeKey": "EventName",
                                                         "AttributeValue": "CreateAccessKey"}])["Events"]
        time.sleep(0.3)
    record = json.loads(str(events[0]["CloudTrailEvent"]))
    assert record["userIdentity"]["type"] == "Root" and record["requestParameters"]["userName"] == "user_name"
    assert "Chrome" in record["userAgent"] and record["sourceIPAddress"] == "127.0.0.1"
    assert secret not in json.dumps(record)
