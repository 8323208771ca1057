"""The S3 pages in a real browser, as root and as an IAM user: buckets, folders, pages of objects, an upload of
50 MiB with its progress and its download, deletes with confirmation, a presigned URL, the bucket policy editor,
and the explained denial of a user without S3 permissions."""

from __future__ import annotations

import hashlib
import json
import os
import time
from pathlib import Path
from urllib.parse import parse_qsl, urlsplit

import pytest
import requests

from tests.conftest import make_client
from tests.e2e.console import ROOT_EMAIL, ROOT_PASSWORD, screenshot, sign_in_root, sign_in_user

# SQLite only: the console calls the same service code the API suites run on both backends.
# (Keeps the suite within CI's time budget.)
pytestmark = pytest.mark.meta_backends("sqlite")

MiB = 1024 * 1024
USER_PASSWORD = "Reader-Passw0rd!"


@pytest.fixture(scope="module")
def s3c(console_server):  # type: ignore[no-untyped-def]
    return make_client(console_server.endpoint)


@pytest.fixture(scope="module")
def root_page(console_server, browser):  # type: ignore[no-untyped-def]
    page = sign_in_root(browser, console_server)
    page.wait_for_url("**/")
    return page


def test_create_bucket_folders_and_pages(root_page, s3c) -> None:
    page = root_page
    page.goto("/")
    page.get_by_role("link", name="S3", exact=True).click()
    page.get_by_role("link", name="Create bucket").click()
    page.get_by_label("Bucket name").fill("Bad_Name")
    page.get_by_role("button", name="Create bucket").click()
    assert "InvalidBucketName: The specified bucket is not valid." in page.get_by_role("alert").inner_text()
    page.get_by_label("Bucket name").fill("eu-photos")
    # the regions named as AWS's console names them (they were bare codes), and the console has its icon
    assert page.locator("#region option[value='us-east-1']").inner_text() == "US East (N. Virginia) us-east-1"
    assert page.request.get("/static/favicon.svg").status == 200
    page.get_by_label("AWS Region").select_option("eu-west-1")
    page.get_by_role("button", name="Create bucket").click()
    assert page.get_by_role("status").inner_text() == "Successfully created bucket “eu-photos”."
    assert s3c.get_bucket_location(Bucket="eu-photos")["LocationConstraint"] == "eu-west-1"
    page.goto("/s3/bucket/create")
    page.get_by_label("Bucket name").fill("eu-photos")
    page.get_by_role("button", name="Create bucket").click()
    assert "BucketAlreadyOwnedByYou" in page.get_by_role("alert").inner_text()
    page.get_by_label("Bucket name").fill("photos-2026")
    page.get_by_role("button", name="Create bucket").click()
    assert page.get_by_role("status").inner_text() == "Successfully created bucket “photos-2026”."

    page.get_by_role("link", name="Create folder").click()
    page.get_by_label("Folder name").fill("a/b")
    page.get_by_role("button", name="Create folder").click()
    assert "Folder names can't contain “/”." in page.get_by_role("alert").inner_text()
    page.get_by_label("Folder name").fill("holiday")
    page.get_by_role("button", name="Create folder").click()
    assert page.get_by_role("status").inner_text() == "Successfully created folder “holiday”."
    assert s3c.head_object(Bucket="photos-2026", Key="holiday/")["ContentLength"] == 0

    page.get_by_role("link", name="holiday/").click()
    assert "No objects" in page.locator("#objects").inner_text()    # the folder's own key is not listed
    for i in range(120):
        s3c.put_object(Bucket="photos-2026", Key=f"holiday/img-{i:03d}.jpg", Body=b"x" * i)
    page.reload()
    rows = page.locator("#objects tbody tr")
    # 100 keys a page (S3's max-keys), the folder's own "holiday/" the first of them, not shown
    assert rows.count() == 99 and "Page 1" in page.get_by_role("navigation", name="Pages").inner_text()
    assert rows.first.get_by_role("link").inner_text() == "img-000.jpg"
    screenshot(page, "s3-objects")
    page.get_by_role("link", name="Next page").click()
    assert rows.count() == 21 and rows.first.get_by_role("link").inner_text() == "img-099.jpg"
    assert page.get_by_role("link", name="Next page").count() == 0
    page.get_by_role("link", name="Previous page").click()
    assert rows.first.get_by_role("link").inner_text() == "img-000.jpg"
    crumbs = page.get_by_role("navigation", name="Breadcrumbs")
    crumbs.get_by_role("link", name="photos-2026").click()
    assert page.get_by_role("link", name="holiday/").is_visible()


def test_upload_50_mib_with_progress_then_download(root_page, s3c, tmp_path: Path) -> None:
    s3c.create_bucket(Bucket="uploads")
    data = os.urandom(50 * MiB)
    source = tmp_path / "big.bin"
    source.write_bytes(data)
    small = tmp_path / "notes.txt"
    small.write_text("hello\n")
    page = root_page
    page.goto("/s3/buckets/uploads")
    page.get_by_role("link", name="Upload", exact=True).click()
    page.get_by_label("Add files").set_input_files([str(source), str(small)])
    assert page.get_by_role("table").get_by_role("cell", name="big.bin").is_visible()
    # drag and drop: a file dropped on the drop zone joins the list
    dropped = page.evaluate_handle("() => { const dt = new DataTransfer(); "
                                   "dt.items.add(new File(['dropped!'], 'dropped.txt', {type: 'text/plain'})); "
                                   "return dt; }")
    page.dispatch_event("[data-dropzone]", "drop", {"dataTransfer": dropped})
    assert page.get_by_role("table").get_by_role("cell", name="dropped.txt").is_visible()
    total = page.get_by_label("Upload progress", exact=True)
    assert total.get_attribute("value") == "0"
    page.get_by_role("button", name="Upload", exact=True).click()
    page.get_by_text("Upload succeeded: 3 file(s)").wait_for(timeout=120_000)
    assert total.evaluate("p => p.value") == 100
    assert page.get_by_label("Upload progress for big.bin").evaluate("p => p.value") == 100
    screenshot(page, "s3-upload")

    head = s3c.head_object(Bucket="uploads", Key="big.bin")
    assert head["ContentLength"] == 50 * MiB and head["ETag"].endswith('-7"')      # 8 MiB parts: multipart
    assert head["ContentType"] == "application/octet-stream"
    assert s3c.get_object(Bucket="uploads", Key="notes.txt")["Body"].read() == b"hello\n"
    dropped_object = s3c.get_object(Bucket="uploads", Key="dropped.txt")
    assert dropped_object["Body"].read() == b"dropped!" and dropped_object["ContentType"] == "text/plain"

    page.goto("/s3/buckets/uploads")
    page.get_by_role("link", name="big.bin").click()
    details = page.get_by_role("region", name="Object overview").inner_text()
    assert "s3://uploads/big.bin" in details and "arn:aws:s3:::uploads/big.bin" in details
    assert "52,428,800 bytes" in details and head["ETag"].strip('"') in details
    assert "CRC64NVME" in page.get_by_role("region", name="Additional checksums").inner_text()
    screenshot(page, "s3-object")
    with page.expect_download() as info:
        page.get_by_role("link", name="Download").click()
    download = info.value
    assert download.suggested_filename == "big.bin"
    target = tmp_path / "downloaded.bin"
    download.save_as(target)
    assert hashlib.sha256(target.read_bytes()).digest() == hashlib.sha256(data).digest()


def test_share_a_presigned_url(root_page, s3c) -> None:
    s3c.create_bucket(Bucket="shared")
    s3c.put_object(Bucket="shared", Key="docs/report.pdf", Body=b"%PDF-1.7 report", ContentType="application/pdf")
    page = root_page
    url = _share(page, "/s3/buckets/shared/object?key=docs/report.pdf")
    query = dict(parse_qsl(urlsplit(url).query))
    assert url.startswith(f"{make_client_endpoint(s3c)}/shared/docs/report.pdf?")
    assert query["X-Amz-Expires"] == "900" and query["X-Amz-Credential"].startswith("ASIA")
    answer = requests.get(url, timeout=10)
    assert answer.status_code == 200 and answer.content == b"%PDF-1.7 report"
    # past its time (its date moved back 16 minutes: the time is checked before the signature), it is refused
    stamp = query["X-Amz-Date"]
    from datetime import datetime, timedelta
    earlier = (datetime.strptime(stamp, "%Y%m%dT%H%M%SZ") - timedelta(minutes=16)).strftime("%Y%m%dT%H%M%SZ")
    moved = url.replace(f"X-Amz-Date={stamp}", f"X-Amz-Date={earlier}")
    # within 16 minutes after midnight (UTC) the earlier time is the day before: the credential's scope date moves
    # with it, or the request is refused for the mismatch (400) before its time is looked at
    moved = moved.replace(f"%2F{stamp[:8]}%2F", f"%2F{earlier[:8]}%2F")
    expired = requests.get(moved, timeout=10)
    assert expired.status_code == 403 and "Request has expired" in expired.text
    page.get_by_label("Time interval until the presigned URL expires")  # still on the page: no secret in a URL
    assert "X-Amz" not in page.url

    page.goto("/s3/buckets/shared/object?key=docs/report.pdf")
    page.get_by_label("Time interval until the presigned URL expires").fill("13")
    page.get_by_label("Unit").select_option("hours")
    page.get_by_role("button", name="Create presigned URL").click()
    assert "between 1 minute and 12 hours" in page.get_by_role("alert").inner_text()


def _share(page, object_page: str) -> str:  # type: ignore[no-untyped-def]
    """"Share with a presigned URL" for 15 minutes on ``object_page``: the URL made."""
    page.goto(object_page)
    page.get_by_label("Time interval until the presigned URL expires").fill("15")
    page.get_by_label("Unit").select_option("minutes")
    page.get_by_role("button", name="Create presigned URL").click()
    return str(page.get_by_label("Presigned URL").input_value())


def make_client_endpoint(client) -> str:  # type: ignore[no-untyped-def]
    return str(client.meta.endpoint_url).rstrip("/")


def test_delete_objects_and_bucket_with_confirmation(root_page, s3c) -> None:
    s3c.create_bucket(Bucket="to-delete")
    for key in ("a.txt", "b.txt", "dir/c.txt", "dir/sub/d.txt"):
        s3c.put_object(Bucket="to-delete", Key=key, Body=b"x")
    page = root_page
    page.goto("/s3/buckets/to-delete")
    page.get_by_label("Select a.txt").check()
    page.get_by_label("Select dir/").check()
    page.get_by_role("button", name="Delete").click()
    assert page.get_by_role("list", name="Specified objects").inner_text().split("\n") == [
        "dir/ (folder, with every object in it)", "a.txt"]
    button = page.get_by_role("button", name="Delete objects")
    assert button.is_disabled()
    page.get_by_label("To confirm deletion, type permanently delete in the text input field.").fill(
        "permanently delete")
    button.click()
    assert page.get_by_role("status").inner_text() == "Successfully deleted 3 objects."  # dir/ held two
    assert [o["Key"] for o in s3c.list_objects_v2(Bucket="to-delete")["Contents"]] == ["b.txt"]

    page.goto("/s3/buckets")
    page.get_by_role("link", name="Delete to-delete").click()
    assert "This bucket is not empty" in page.get_by_role("alert").inner_text()
    page.get_by_role("link", name="empty bucket configuration").click()
    page.get_by_label("To confirm deletion, type permanently delete in the text input field.").fill(
        "permanently delete")
    page.get_by_role("button", name="Empty").click()
    assert page.get_by_role("status").inner_text() == "Successfully emptied bucket “to-delete”."
    page.get_by_role("link", name="Delete to-delete").click()
    page.get_by_label("To confirm deletion, enter the name of the bucket in the text input field.").fill("to-delete")
    page.get_by_role("button", name="Delete bucket").click()
    assert page.get_by_role("status").inner_text() == "Successfully deleted bucket “to-delete”."
    assert "to-delete" not in [b["Name"] for b in s3c.list_buckets()["Buckets"]]


def test_a_versioned_bucket_is_emptied_of_every_version_then_deleted(root_page, s3c) -> None:
    """AWS: "When you empty a general purpose bucket that has S3 Versioning enabled or suspended, all versions of
    all the objects in the bucket are deleted." Empty only added delete markers, so the bucket could never be
    deleted from the console; Delete objects said "can't be undone" while it added delete markers."""
    s3c.create_bucket(Bucket="kept-versions")
    s3c.put_bucket_versioning(Bucket="kept-versions", VersioningConfiguration={"Status": "Enabled"})
    for body in (b"1", b"2"):
        s3c.put_object(Bucket="kept-versions", Key="a.txt", Body=body)
    s3c.put_object(Bucket="kept-versions", Key="b.txt", Body=b"b")
    page = root_page
    page.goto("/s3/buckets/kept-versions")
    page.get_by_label("Select b.txt").check()
    page.get_by_role("button", name="Delete").click()
    assert "adds delete markers" in page.get_by_role("main").inner_text()
    page.get_by_label("To confirm deletion, type delete in the text input field.").fill("delete")
    page.get_by_role("button", name="Delete objects").click()
    assert page.get_by_role("status").inner_text() == "Successfully deleted 1 object."
    listed = s3c.list_object_versions(Bucket="kept-versions")
    assert (len(listed["Versions"]), len(listed["DeleteMarkers"])) == (3, 1)

    page.goto("/s3/buckets/kept-versions/empty")
    page.get_by_label("To confirm deletion, type permanently delete in the text input field.").fill(
        "permanently delete")
    page.get_by_role("button", name="Empty").click()
    assert page.get_by_role("status").inner_text() == "Successfully emptied bucket “kept-versions”."
    listed = s3c.list_object_versions(Bucket="kept-versions")
    assert "Versions" not in listed and "DeleteMarkers" not in listed
    page.get_by_role("link", name="Delete kept-versions").click()
    page.get_by_label("To confirm deletion, enter the name of the bucket in the text input field.").fill(
        "kept-versions")
    page.get_by_role("button", name="Delete bucket").click()
    assert page.get_by_role("status").inner_text() == "Successfully deleted bucket “kept-versions”."


def test_deleting_in_a_suspended_bucket_asks_for_permanently_delete(root_page, s3c) -> None:
    """Versioning Suspended: a delete marker replaces the null version, whose content is lost. The page promised
    the versions were kept and the delete could be undone, and asked only for "delete"."""
    s3c.create_bucket(Bucket="suspended")
    s3c.put_bucket_versioning(Bucket="suspended", VersioningConfiguration={"Status": "Suspended"})
    s3c.put_object(Bucket="suspended", Key="only.txt", Body=b"the only copy")
    page = root_page
    page.goto("/s3/buckets/suspended")
    page.get_by_label("Select only.txt").check()
    page.get_by_role("button", name="Delete").click()
    assert "adds delete markers" not in page.get_by_role("main").inner_text()
    _permanently(page, "Delete objects")
    assert page.get_by_role("status").inner_text() == "Successfully deleted 1 object."


def test_an_object_page_without_a_key_names_no_object(root_page, s3c) -> None:
    """An empty ``key`` is no object: the page showed a 0-byte object with an empty name, and Download served the
    bucket's listing XML as a file (console probe, finding 10)."""
    s3c.create_bucket(Bucket="keyless")
    s3c.put_object(Bucket="keyless", Key="a.txt", Body=b"a")
    page = root_page
    for path in ("/s3/buckets/keyless/object?key=", "/s3/buckets/keyless/object",
                 "/s3/buckets/keyless/download?key="):
        response = page.goto(path)
        assert response is not None and response.status == 404, path
        assert "ListBucketResult" not in page.content()
        assert page.get_by_role("heading", name="Not found").is_visible()  # (it was titled "Request refused")


def test_bucket_versioning_is_enabled_and_suspended_in_properties(root_page, s3c) -> None:
    """AWS's Properties tab: "Bucket Versioning" Disabled, then Edit → Enable → Save changes, then Suspend; Show
    versions was out of reach in the console without it (console probe, finding 2)."""
    s3c.create_bucket(Bucket="versioned-here")
    page = root_page
    page.goto("/s3/buckets/versioned-here?tab=properties")
    panel = page.get_by_role("region", name="Bucket Versioning")
    assert "Disabled" in panel.inner_text()
    panel.get_by_role("link", name="Edit").click()
    page.get_by_role("heading", name="Edit Bucket Versioning").wait_for()
    page.get_by_label("Enable").check()
    page.get_by_role("button", name="Save changes").click()
    assert page.get_by_role("status").inner_text() == "Successfully edited Bucket Versioning."
    assert "Enabled" in page.get_by_role("region", name="Bucket Versioning").inner_text()
    assert s3c.get_bucket_versioning(Bucket="versioned-here")["Status"] == "Enabled"
    page.get_by_role("region", name="Bucket Versioning").get_by_role("link", name="Edit").click()
    assert page.get_by_label("Enable").is_checked()
    page.get_by_label("Suspend").check()
    page.get_by_role("button", name="Save changes").click()
    assert "Suspended" in page.get_by_role("region", name="Bucket Versioning").inner_text()
    assert s3c.get_bucket_versioning(Bucket="versioned-here")["Status"] == "Suspended"
    # a post that chooses nothing changes nothing (it was taken for Suspend)
    s3c.put_bucket_versioning(Bucket="versioned-here", VersioningConfiguration={"Status": "Enabled"})
    page.get_by_role("region", name="Bucket Versioning").get_by_role("link", name="Edit").click()
    page.evaluate("() => document.querySelectorAll('input[name=status]').forEach(i => { i.checked = false; })")
    page.get_by_role("button", name="Save changes").click()
    assert page.get_by_role("alert").inner_text() == "Choose Enable or Suspend."
    assert s3c.get_bucket_versioning(Bucket="versioned-here")["Status"] == "Enabled"


def test_show_versions_lists_versions_and_delete_markers_and_deletes_them_for_good(root_page, s3c) -> None:
    """AWS's "Show versions": every version and delete marker, one version's details and download, and a delete
    undone by deleting its marker (the delete page told how, but nothing in the console could do it)."""
    s3c.create_bucket(Bucket="shown-versions")
    s3c.put_bucket_versioning(Bucket="shown-versions", VersioningConfiguration={"Status": "Enabled"})
    first = s3c.put_object(Bucket="shown-versions", Key="notes/a b.txt", Body=b"first")["VersionId"]
    second = s3c.put_object(Bucket="shown-versions", Key="notes/a b.txt", Body=b"second")["VersionId"]
    marker = s3c.delete_object(Bucket="shown-versions", Key="notes/a b.txt")["VersionId"]
    page = root_page
    page.goto("/s3/buckets/shown-versions?prefix=notes/")
    assert "No objects" in page.get_by_role("table").inner_text()  # deleted: only its versions remain
    page.get_by_role("switch", name="Show versions").click()
    rows = [r.inner_text().split("\t") for r in page.locator("#objects tbody tr").all()]
    assert [(r[1], r[2], r[3]) for r in rows] == [
        ("a b.txt", "Delete marker", f"{marker} (current version)"), ("a b.txt", "txt", second),
        ("a b.txt", "txt", first)]
    # one version's page: its id, and its bytes downloaded
    page.get_by_role("link", name="a b.txt").first.click()  # (the marker has no page)
    assert second in page.get_by_role("main").inner_text()
    with page.expect_download() as download:
        page.get_by_role("link", name="Download").click()
    assert Path(download.value.path()).read_bytes() == b"second"
    # the delete undone: the marker deleted, for good, and the object is back
    page.goto("/s3/buckets/shown-versions?prefix=notes/&versions=1")
    page.get_by_label(f"Select a b.txt version {marker}").check()
    page.get_by_role("button", name="Delete").click()
    assert page.get_by_role("list", name="Specified objects").inner_text() == f"notes/a b.txt, version {marker}"
    _permanently(page, "Delete objects")
    assert page.get_by_role("status").inner_text() == "Successfully deleted 1 object version."
    assert page.get_by_role("switch", name="Show versions").get_attribute("aria-checked") == "true"
    assert s3c.get_object(Bucket="shown-versions", Key="notes/a b.txt")["Body"].read() == b"second"
    listed = s3c.list_object_versions(Bucket="shown-versions")
    assert "DeleteMarkers" not in listed and [v["VersionId"] for v in listed["Versions"]] == [second, first]


def test_keys_differing_only_in_line_breaks_are_deleted_as_selected(root_page, s3c) -> None:
    """A browser turns CR LF in a form value into LF: a key with CR LF posted as another key, and Delete removed
    the other object (or, in Show versions, nothing, saying it had).  Keys travel percent-encoded in forms now."""
    s3c.create_bucket(Bucket="line-breaks")
    s3c.put_bucket_versioning(Bucket="line-breaks", VersioningConfiguration={"Status": "Enabled"})
    for key in ("c\nd", "c\r\nd"):
        s3c.put_object(Bucket="line-breaks", Key=key, Body=key.encode())
    page = root_page
    page.goto("/s3/buckets/line-breaks")
    page.locator("input[name=selected]").nth(1).check()  # S3's order: "c\nd" < "c\r\nd"
    page.get_by_role("button", name="Delete").click()
    page.get_by_label("To confirm deletion, type delete in the text input field.").fill("delete")
    page.get_by_role("button", name="Delete objects").click()
    assert page.get_by_role("status").inner_text() == "Successfully deleted 1 object."
    assert [o["Key"] for o in s3c.list_objects_v2(Bucket="line-breaks")["Contents"]] == ["c\nd"]
    # Show versions: the delete marker of "c\r\nd" deleted for good brings it back
    marker = next(m["VersionId"] for m in s3c.list_object_versions(Bucket="line-breaks")["DeleteMarkers"])
    page.goto("/s3/buckets/line-breaks?versions=1")
    page.locator(f"input[name=selected_version][value^='{marker} ']").check()
    page.get_by_role("button", name="Delete").click()
    _permanently(page, "Delete objects")
    assert page.get_by_role("status").inner_text() == "Successfully deleted 1 object version."
    assert sorted(o["Key"] for o in s3c.list_objects_v2(Bucket="line-breaks")["Contents"]) == ["c\nd", "c\r\nd"]


def test_a_full_disk_is_said_in_the_console_and_audited(tmp_path: Path, browser) -> None:
    """A full disk (here: --min-free 100 %, every upload below the reserve) was a 500 "Something went wrong" page,
    a traceback in the log and no audit event: the console called S3 past the API's edge, which maps it."""
    from tests.conftest import StoreroomServer
    from tests.e2e.console import ROOT_EMAIL as EMAIL

    srv = StoreroomServer(tmp_path / "data", workers=1, console=True, extra_args=["--min-free", "100%"],
                          env={"STOREROOM_ROOT_PASSWORD": ROOT_PASSWORD, "STOREROOM_ROOT_EMAIL": EMAIL})
    srv.start()
    try:
        make_client(srv.endpoint).create_bucket(Bucket="full-disk")
        page = sign_in_root(browser, srv)
        page.wait_for_url("**/")
        page.goto("/s3/buckets/full-disk/create-folder")
        page.get_by_label("Folder name").fill("reports")
        page.get_by_role("button", name="Create folder").click()
        assert "storage is full" in page.get_by_role("alert").inner_text()
        log = srv.log_path.read_text()
        assert "Traceback" not in log and "Something went wrong" not in page.content()
        trail = make_client(srv.endpoint, "cloudtrail")
        for _ in range(50):  # the audit writer stores a second's events at once
            events = trail.lookup_events(LookupAttributes=[{"AttributeKey": "EventName",
                                                            "AttributeValue": "PutObject"}])["Events"]
            if events:
                break
            time.sleep(0.1)
        assert '"errorCode":"InsufficientStorage"' in events[0]["CloudTrailEvent"].replace(" ", "")
    finally:
        srv.stop()


def test_a_user_with_awss_console_policy_deletes_objects(console_server, browser, s3c) -> None:
    """AWS's "access to one of your buckets" policy (what `storeroom grant` also makes) has no
    s3:GetBucketVersioning: Delete answered its AccessDenied, though the user may delete the object."""
    iam = make_client(console_server.endpoint, "iam")
    account = make_client(console_server.endpoint, "sts").get_caller_identity()["Account"]
    s3c.create_bucket(Bucket="awsdoc")
    s3c.put_object(Bucket="awsdoc", Key="todelete.txt", Body=b"x")
    iam.create_user(UserName="awsdoc")
    iam.create_login_profile(UserName="awsdoc", Password=USER_PASSWORD)
    iam.put_user_policy(UserName="awsdoc", PolicyName="bucket", PolicyDocument=json.dumps({
        "Version": "2012-10-17", "Statement": [
            {"Effect": "Allow", "Action": ["s3:PutObject", "s3:GetObject", "s3:DeleteObject"],
             "Resource": "arn:aws:s3:::awsdoc/*"},
            {"Effect": "Allow", "Action": ["s3:ListAllMyBuckets", "s3:GetBucketLocation"],
             "Resource": "arn:aws:s3:::*"},
            {"Effect": "Allow", "Action": "s3:ListBucket", "Resource": "arn:aws:s3:::awsdoc"}]}))
    page = sign_in_user(browser, console_server, account, "awsdoc", USER_PASSWORD)
    page.wait_for_url("**/")
    page.goto("/s3/buckets/awsdoc")
    page.get_by_label("Select todelete.txt").check()
    page.get_by_role("button", name="Delete").click()
    _permanently(page, "Delete objects")
    assert page.get_by_role("status").inner_text() == "Successfully deleted 1 object."
    assert "Contents" not in s3c.list_objects_v2(Bucket="awsdoc")


def _permanently(page, button: str) -> None:  # type: ignore[no-untyped-def]
    """The confirmation AWS's console asks for what cannot be undone, then ``button``."""
    page.get_by_label("To confirm deletion, type permanently delete in the text input field.").fill(
        "permanently delete")
    page.get_by_role("button", name=button).click()


def test_a_shared_url_of_a_bucket_in_another_region_works(root_page, s3c, console_server) -> None:
    """The share link was always signed for the server's region: S3 refused it for a bucket elsewhere."""
    eu = make_client(console_server.endpoint, region_name="eu-west-1")
    eu.create_bucket(Bucket="eu-shared", CreateBucketConfiguration={"LocationConstraint": "eu-west-1"})
    eu.put_object(Bucket="eu-shared", Key="in eu.txt", Body=b"eu body")
    url = _share(root_page, "/s3/buckets/eu-shared/object?key=in%20eu.txt")
    assert "%2Feu-west-1%2Fs3%2F" in url
    answer = requests.get(url, timeout=10)
    assert answer.status_code == 200 and answer.content == b"eu body"


def test_keys_xml_cannot_carry_are_listed_and_emptied(root_page, s3c) -> None:
    """A key with a control character: S3 lists it as a character reference XML 1.0 does not allow, so the
    console lists with encoding-type=url, and deletes such a key on its own. The bucket page answered 500."""
    s3c.create_bucket(Bucket="odd-keys")
    for key in ("report\x01.txt", "plain one.txt", "dir\x1f/inner"):
        s3c.put_object(Bucket="odd-keys", Key=key, Body=b"x")
    page = root_page
    response = page.goto("/s3/buckets/odd-keys")
    assert response is not None and response.status == 200
    assert page.get_by_label("Select plain one.txt").count() == 1
    assert page.get_by_role("link", name="report\x01.txt").count() + page.get_by_text("report").count() >= 1
    response = page.goto("/s3/buckets/odd-keys?prefix=%00")
    assert response is not None and response.status == 200
    page.goto("/s3/buckets/odd-keys/empty")
    _permanently(page, "Empty")
    assert page.get_by_role("status").inner_text() == "Successfully emptied bucket “odd-keys”."
    assert "Contents" not in s3c.list_objects_v2(Bucket="odd-keys")


def test_bucket_policy_editor(root_page, s3c, console_server) -> None:
    s3c.create_bucket(Bucket="with-policy")
    page = root_page
    page.goto("/s3/buckets/with-policy")
    page.get_by_role("tab", name="Permissions").click()
    assert "No policy to display." in page.get_by_role("tabpanel").inner_text()
    page.get_by_role("link", name="Edit").click()
    editor = page.get_by_label("Policy", exact=True)
    editor.fill('{\n  "Version": "2012-10-17",\n  "Statement": [\n    {"Effect": "Allow",}\n  ]\n}')
    page.get_by_role("button", name="Save changes").click()
    alert = page.get_by_role("alert").inner_text()
    assert "MalformedPolicy: This policy contains invalid Json" in alert and "Line 4, column 24" in alert
    account = make_client(console_server.endpoint, "sts").get_caller_identity()["Account"]
    good = {"Sid": "Read", "Effect": "Allow", "Principal": {"AWS": f"arn:aws:iam::{account}:root"},
            "Action": "s3:GetObject", "Resource": "arn:aws:s3:::with-policy/*"}
    bad = {"Sid": "Users", "Effect": "Allow", "Principal": "*", "Action": "iam:CreateUser", "Resource": "*"}
    document = {"Version": "2012-10-17", "Statement": [good, bad]}
    page.get_by_label("Policy", exact=True).fill(json.dumps(document, indent=2))
    page.get_by_role("button", name="Save changes").click()
    alert = page.get_by_role("alert").inner_text()
    assert "MalformedPolicy: Policy has invalid action" in alert and "Statement 2: Policy has invalid action" in alert
    assert "Line 13, column 5" in alert
    screenshot(page, "s3-bucket-policy")
    document["Statement"] = [good]
    page.get_by_label("Policy", exact=True).fill(json.dumps(document, indent=2))
    page.get_by_role("button", name="Save changes").click()
    assert page.get_by_role("status").inner_text() == "Successfully edited bucket policy."
    assert json.loads(s3c.get_bucket_policy(Bucket="with-policy")["Policy"]) == document
    page.get_by_label("To confirm deletion of the bucket policy, enter delete in the text input field.").fill("delete")
    page.get_by_role("button", name="Delete bucket policy").click()
    assert page.get_by_role("status").inner_text() == "Successfully deleted bucket policy."


def test_a_user_without_s3_permissions_is_told_why(console_server, browser) -> None:
    iam = make_client(console_server.endpoint, "iam")
    iam.create_user(UserName="no-s3")
    iam.create_login_profile(UserName="no-s3", Password=USER_PASSWORD, PasswordResetRequired=False)
    account = make_client(console_server.endpoint, "sts").get_caller_identity()["Account"]
    page = sign_in_user(browser, console_server, account, "no-s3", USER_PASSWORD)
    page.wait_for_url("**/")
    page.get_by_role("link", name="S3", exact=True).click()
    alert = page.get_by_role("alert").inner_text()
    assert (f"User: arn:aws:iam::{account}:user/no-s3 is not authorized to perform: s3:ListAllMyBuckets on "
            f"resource: \"arn:aws:s3:::*\" because no identity-based policy allows the s3:ListAllMyBuckets "
            f"action") in alert
    assert "Implicitly denied" in alert
    # no count of buckets the user cannot see (it said "(0)", as if there were none)
    assert page.get_by_role("heading", level=1).inner_text() == "General purpose buckets"
    page.context.close()


def test_console_reached_by_a_host_name_under_an_s3_domain(console_server, browser, s3c) -> None:
    """The console's S3 calls are path style whatever name the browser used: at ``shared.localhost`` (localhost
    is always a virtual-host domain of the S3 endpoint) the bucket ``shared`` must not be read from the host."""
    s3c.create_bucket(Bucket="vhost-check")
    s3c.put_object(Bucket="vhost-check", Key="inside.txt", Body=b"x")
    context = browser.new_context(base_url=f"http://vhost-check.localhost:{console_server.console_port}")
    page = context.new_page()
    page.goto("/signin")
    page.get_by_label("Root user").check()
    page.get_by_label("Email address").fill(ROOT_EMAIL)
    page.get_by_label("Password").fill(ROOT_PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url("**/")
    page.goto("/s3/buckets/vhost-check")
    assert page.get_by_role("link", name="inside.txt").is_visible()
    context.close()
