"""Event history, the credential report and the IAM dashboard's security recommendations and activity chart, in
a real browser.  The server flags keys from their first day (--key-max-age-days 0, --key-unused-days 0), so the
key rules show without waiting 90 days."""

from __future__ import annotations

import csv
import io
import json
import time
from collections.abc import Iterator

import pyotp
import pytest

from tests.conftest import StoreroomServer, make_client
from tests.e2e.console import ROOT_EMAIL, ROOT_PASSWORD, screenshot, sign_in_root

# SQLite only: the console calls the same service code the API suites run on both backends.
# (Keeps the suite within CI's time budget.)
pytestmark = pytest.mark.meta_backends("sqlite")


@pytest.fixture(scope="module")
def console_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[StoreroomServer]:
    srv = StoreroomServer(tmp_path_factory.mktemp("console-trail") / "data", workers=1, console=True,
                          extra_args=["--key-max-age-days", "0", "--key-unused-days", "0"],
                          env={"STOREROOM_ROOT_PASSWORD": ROOT_PASSWORD, "STOREROOM_ROOT_EMAIL": ROOT_EMAIL})
    srv.start()
    yield srv
    srv.stop()


@pytest.fixture(scope="module")
def iam(console_server):  # type: ignore[no-untyped-def]
    return make_client(console_server.endpoint, "iam")


@pytest.fixture(scope="module")
def intruder(console_server, iam) -> str:  # type: ignore[no-untyped-def]
    """A user with a key and no permissions, refused once (s3:ListAllMyBuckets)."""
    iam.create_user(UserName="intruder")
    key = iam.create_access_key(UserName="intruder")["AccessKey"]
    s3 = make_client(console_server.endpoint, access_key=key["AccessKeyId"], secret_key=key["SecretAccessKey"])
    with pytest.raises(Exception, match="AccessDenied"):
        s3.list_buckets()
    return str(key["AccessKeyId"])


@pytest.fixture(scope="module")
def root_page(console_server, browser):  # type: ignore[no-untyped-def]
    page = sign_in_root(browser, console_server)
    page.wait_for_url("**/")
    return page


def _until(page, check, seconds: float = 10.0) -> None:  # type: ignore[no-untyped-def]
    """Reloads until ``check()`` holds: the API worker's events reach the audit log within a moment."""
    deadline = time.monotonic() + seconds
    while not check():
        assert time.monotonic() < deadline, "the event did not show up"
        time.sleep(0.3)
        page.reload()


def test_event_history_filters(root_page, intruder, console_server) -> None:
    page = root_page
    page.goto("/")
    page.get_by_role("link", name="CloudTrail", exact=True).click()
    page.get_by_role("heading", name="Event history").wait_for()
    page.get_by_label("User name").fill("intruder")
    page.get_by_label("Denied only").check()
    page.get_by_role("button", name="Apply filters").click()
    rows = page.locator("#events tbody tr:not(.record)")
    _until(page, lambda: "ListBuckets" in rows.first.inner_text())
    first = rows.first.inner_text()
    assert "intruder" in first and "AccessDenied" in first and intruder in first
    assert page.get_by_label("Denied only").is_checked() and page.get_by_label("User name").input_value() == "intruder"
    page.get_by_text("Event record").first.click()
    record = page.get_by_label("Event record of ListBuckets").first.inner_text()
    assert '"errorCode": "AccessDenied"' in record and '"userName": "intruder"' in record
    screenshot(page, "event-history")

    # by access key, by event name, by resource; a time range with nothing in it
    page.goto(f"/cloudtrail/events?key={intruder}")
    assert rows.count() >= 1 and all(intruder in rows.nth(i).inner_text() for i in range(rows.count()))
    page.goto("/cloudtrail/events?event=CreateUser")
    _until(page, lambda: "CreateUser" in rows.first.inner_text())
    assert "root" in rows.first.inner_text()
    page.goto("/cloudtrail/events?resource=intruder&event=CreateAccessKey")
    _until(page, lambda: "CreateAccessKey" in rows.first.inner_text())
    page.goto("/cloudtrail/events?start=2001-01-01T00:00&end=2001-01-02T00:00")
    assert "No events match these filters" in page.locator("#events").inner_text()
    page.goto("/cloudtrail/events?start=2001-01-02T00:00&end=2001-01-01T00:00")
    assert "The start of the time range must be before its end." in page.get_by_role("alert").inner_text()

    # pages: 50 events a page, "Next page" from LookupEvents' NextToken
    s3 = make_client(console_server.endpoint)
    sent = {s3.list_buckets()["ResponseMetadata"]["RequestId"] for _ in range(60)}
    # All 60 stored before the first page is read: page 2 continues from page 1's last event, so events stored
    # after page 1 was read (the worker flushes its batch every second) would never show on it.
    trail = make_client(console_server.endpoint, "cloudtrail")
    by_name = [{"AttributeKey": "EventName", "AttributeValue": "ListBuckets"}]

    def stored() -> set[str]:
        return {json.loads(e["CloudTrailEvent"])["requestID"] for p in trail.get_paginator("lookup_events").paginate(
            LookupAttributes=by_name) for e in p["Events"]}
    deadline = time.monotonic() + 10
    while not sent <= stored():
        assert time.monotonic() < deadline, "the 60 ListBuckets did not reach the trail"
        time.sleep(0.3)
    page.goto("/cloudtrail/events?event=ListBuckets")
    assert page.get_by_role("link", name="Next page").count() == 1
    assert rows.count() == 50
    page.get_by_role("link", name="Next page").click()
    assert "Page 2" in page.get_by_role("navigation", name="Pages").inner_text() and rows.count() >= 10
    page.get_by_role("link", name="Previous page").click()
    assert "Page 1" in page.get_by_role("navigation", name="Pages").inner_text()


def test_a_failed_sign_in_is_shown_as_denied(root_page, console_server, browser) -> None:
    """CloudTrail records a refused console sign-in without an errorCode ("responseElements": {"ConsoleLogin":
    "Failure"}); Event history called it a green "Success", and "Denied only" hid password guessing."""
    from tests.e2e.console import sign_in_user
    account = make_client(console_server.endpoint, "sts").get_caller_identity()["Account"]
    guess = sign_in_user(browser, console_server, account, "intruder", "Guessed-Passw0rd!")
    guess.get_by_role("alert").wait_for()
    page = root_page
    page.goto("/cloudtrail/events?event=ConsoleLogin&denied=on")
    rows = page.locator("#events tbody tr:not(.record)")
    _until(page, lambda: "Failed authentication" in page.locator("#events").inner_text())
    assert "Success" not in rows.first.inner_text() and rows.first.locator(".badge.bad").count() == 1


def test_credential_report_download(root_page, intruder) -> None:
    page = root_page
    page.goto("/cloudtrail/events")
    with page.expect_download() as info:
        page.get_by_role("button", name="Download credential report").click()
    download = info.value
    assert download.suggested_filename.startswith("status_reports_") and download.suggested_filename.endswith(".csv")
    with open(download.path(), newline="") as f:
        rows = list(csv.DictReader(io.StringIO(f.read())))
    assert rows[0]["user"] == "<root_account>"
    mine = next(r for r in rows if r["user"] == "intruder")
    assert mine["access_key_1_active"] == "true" and mine["password_enabled"] == "false"


def test_recommendations_appear_and_disappear(root_page, iam, intruder, console_server) -> None:
    page = root_page
    page.goto("/iam")
    listed = page.get_by_role("list", name="Security recommendations")
    titles = listed.inner_text()
    assert "Add MFA for root user" in titles and "Root user has access keys" in titles
    assert f"Rotate access key {intruder}" in titles and "Set a password policy" in titles

    iam.create_user(UserName="console-user")
    iam.create_login_profile(UserName="console-user", Password="Console-Passw0rd!", PasswordResetRequired=False)
    iam.attach_user_policy(UserName="console-user", PolicyArn="arn:aws:iam::aws:policy/AdministratorAccess")
    page.reload()
    titles = listed.inner_text()
    assert "Add MFA for console-user" in titles and "console-user has AdministratorAccess" in titles
    # each links to its fix
    item = listed.get_by_role("listitem").filter(has_text="Add MFA for console-user")
    assert item.get_by_role("link", name="Assign MFA device").get_attribute("href") == \
        "/iam/users/console-user?tab=security"
    chart = page.get_by_role("img", name="Requests and denials per hour (UTC)")
    assert chart.is_visible()
    caption = page.locator("figure.chart figcaption")
    assert "requests" in caption.inner_text() and "denied" in caption.inner_text()

    def refusal_counted() -> bool:  # the intruder's refusal, once its worker has stored the event
        if int(caption.inner_text().split(" denied")[0].split("·")[-1].strip()) >= 1:
            return True
        page.reload()
        return False
    _until(page, refusal_counted)
    screenshot(page, "iam-dashboard")

    iam.delete_login_profile(UserName="console-user")
    iam.detach_user_policy(UserName="console-user", PolicyArn="arn:aws:iam::aws:policy/AdministratorAccess")
    iam.delete_access_key(UserName="intruder", AccessKeyId=intruder)
    iam.update_account_password_policy(MinimumPasswordLength=14)
    page.reload()
    titles = listed.inner_text()
    assert "console-user" not in titles and intruder not in titles and "password policy" not in titles

    # root enables MFA (the API way, as README shows): the first recommendation goes
    account = make_client(console_server.endpoint, "sts").get_caller_identity()["Account"]
    seed = iam.create_virtual_mfa_device(VirtualMFADeviceName="root-account-mfa-device")[
        "VirtualMFADevice"]["Base32StringSeed"]
    totp = pyotp.TOTP(seed.decode() if isinstance(seed, bytes) else seed)
    step = int(time.time() // 30)
    iam.enable_mfa_device(UserName="root", SerialNumber=f"arn:aws:iam::{account}:mfa/root-account-mfa-device",
                          AuthenticationCode1=totp.at((step - 2) * 30), AuthenticationCode2=totp.at((step - 1) * 30))
    page.reload()
    assert "Add MFA for root user" not in listed.inner_text()
