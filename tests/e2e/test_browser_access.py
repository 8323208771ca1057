"""Browser access in Chromium (Debian's, through Playwright): a page served by the test on an origin of its own (a
loopback port) uploads with a presigned PUT URL and reads the ETag the bucket's CORS rules expose, a page on an
origin the rules do not allow is blocked by the browser itself, and a plain HTML form uploads with the fields
boto3's generate_presigned_post makes (POST Object), answered with S3's 303 redirect or its 201 document."""

from __future__ import annotations

import html
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

import pytest
from botocore.exceptions import ClientError

from tests.conftest import make_client
from tests.e2e.helpers import md5_hex

PUT_PAGE = """<!doctype html><html><body><script>
async function upload(url, text) {
  try {
    const resp = await fetch(url, {method: "PUT", body: text});
    return {status: resp.status, etag: resp.headers.get("ETag")};
  } catch (err) {
    return {error: String(err)};
  }
}
</script></body></html>"""


class Pages:
    """A tiny web site on a loopback port of its own: an origin other than Storeroom's."""

    def __init__(self) -> None:
        self.pages: dict[str, str] = {"/": PUT_PAGE}
        self.requests: list[str] = []
        pages = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802 - http.server's naming
                pages.requests.append(self.path)
                body = pages.pages.get(urlsplit(self.path).path, "<!doctype html><p>done</p>").encode()
                self.send_response(200)
                self.send_header("Content-Type", "text/html; charset=utf-8")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: object) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.origin = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def site() -> Iterator[Pages]:
    pages = Pages()
    yield pages
    pages.close()


@pytest.fixture
def other_site() -> Iterator[Pages]:
    pages = Pages()
    yield pages
    pages.close()


def _page(browser, origin: str):  # type: ignore[no-untyped-def]
    context = browser.new_context(base_url=origin)
    context.set_default_timeout(15_000)
    page = context.new_page()
    page.goto("/")
    return page


def test_a_page_of_another_origin_uploads_with_a_presigned_put_and_reads_the_etag(
        browser, s3, bucket, site, other_site) -> None:  # type: ignore[no-untyped-def]
    s3.put_bucket_cors(Bucket=bucket, CORSConfiguration={"CORSRules": [
        {"AllowedOrigins": [site.origin], "AllowedMethods": ["PUT", "GET"], "AllowedHeaders": ["*"],
         "ExposeHeaders": ["ETag"], "MaxAgeSeconds": 60}]})
    s3v4 = make_client(s3.meta.endpoint_url, signature_version="s3v4")  # signs no Content-Type, unlike V2
    url = s3v4.generate_presigned_url("put_object", Params={"Bucket": bucket, "Key": "from-the-browser.txt"},
                                      ExpiresIn=300)
    page = _page(browser, site.origin)
    result = page.evaluate("([url, text]) => upload(url, text)", [url, "uploaded by Chromium"])
    assert result == {"status": 200, "etag": f'"{md5_hex(b"uploaded by Chromium")}"'}
    assert s3.get_object(Bucket=bucket, Key="from-the-browser.txt")["Body"].read() == b"uploaded by Chromium"
    page.context.close()

    # an origin the rules do not name: the preflight is refused and the browser never sends the PUT
    blocked_url = s3v4.generate_presigned_url("put_object", Params={"Bucket": bucket, "Key": "blocked.txt"},
                                            ExpiresIn=300)
    page = _page(browser, other_site.origin)
    result = page.evaluate("([url, text]) => upload(url, text)", [blocked_url, "should not land"])
    assert "error" in result and "Failed to fetch" in result["error"], result
    page.context.close()
    with pytest.raises(ClientError):
        s3.head_object(Bucket=bucket, Key="blocked.txt")


def _form_page(presigned: dict, submit: str = "Upload") -> str:
    inputs = "".join(f'<input type="hidden" name="{html.escape(k)}" value="{html.escape(v)}">'
                     for k, v in presigned["fields"].items())
    return (f'<!doctype html><html><body><form action="{html.escape(presigned["url"])}" method="post" '
            f'enctype="multipart/form-data">{inputs}<input type="file" name="file">'
            f'<input type="submit" value="{submit}"></form></body></html>')


def test_a_plain_html_form_uploads(browser, s3, bucket, site) -> None:  # type: ignore[no-untyped-def]
    s3v4 = make_client(s3.meta.endpoint_url, signature_version="s3v4")
    done = f"{site.origin}/done"
    presigned = s3v4.generate_presigned_post(
        bucket, "forms/${filename}", Fields={"success_action_redirect": done, "Content-Type": "text/plain"},
        Conditions=[{"success_action_redirect": done}, ["starts-with", "$Content-Type", "text/"],
                    ["content-length-range", 1, 1024 * 1024]], ExpiresIn=300)
    site.pages["/form"] = _form_page(presigned)
    page = _page(browser, site.origin)
    page.goto("/form")
    page.set_input_files('input[type="file"]', files=[{"name": "notes.txt", "mimeType": "text/plain",
                                                        "buffer": b"written in a form"}])
    with page.expect_navigation(url=f"{done}?**"):
        page.get_by_role("button", name="Upload").click()
    query = parse_qs(urlsplit(page.url).query)
    assert query == {"bucket": [bucket], "key": ["forms/notes.txt"], "etag": [f'"{md5_hex(b"written in a form")}"']}
    got = s3.get_object(Bucket=bucket, Key="forms/notes.txt")
    assert got["Body"].read() == b"written in a form" and got["ContentType"] == "text/plain"

    # without a redirect, success_action_status 201: the browser shows S3's PostResponse document
    presigned = s3v4.generate_presigned_post(bucket, "forms/answer.bin", Fields={"success_action_status": "201"},
                                             Conditions=[{"success_action_status": "201"}], ExpiresIn=300)
    site.pages["/form201"] = _form_page(presigned, "Send")
    page.goto("/form201")
    page.set_input_files('input[type="file"]', files=[{"name": "a.bin", "mimeType": "application/octet-stream",
                                                        "buffer": b"\x00\x01\x02"}])
    with page.expect_navigation():
        page.get_by_role("button", name="Send").click()
    assert "forms/answer.bin" in page.content() and md5_hex(b"\x00\x01\x02") in page.content()
    assert s3.get_object(Bucket=bucket, Key="forms/answer.bin")["Body"].read() == b"\x00\x01\x02"
    page.context.close()
