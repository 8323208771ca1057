"""Randomised signed Query-protocol requests to IAM and STS: whatever the action, the parameters (wrong types,
huge or non-UTF-8 values, missing members, odd list indexes, duplicated names, broken policy documents), the
method, ``Version`` or content type, the answer is AWS-shaped — an ``<ErrorResponse>`` with Code and Message or
an ``<XResponse>`` — never a 500 (501 NotImplemented only for actions Storeroom has no handler for), never a
hang, and the server stays healthy.

Entities the fuzz may create use the names of a small pool (``fz-…``) and are removed afterwards, with any extra
root access key."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from typing import Any
from urllib.parse import quote

import botocore.session
import pytest
import requests
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from storeroom.iam import credential_report, logins, mfa, oidc, policies, roles, users
from storeroom.sts import assume, messages, web_identity
from tests.conftest import ROOT_ACCESS_KEY_ID, StoreroomServer, make_client
from tests.e2e.helpers import signed_request
from tests.e2e.iam_cleanup import (
    best_effort,
    delete_group_fully,
    delete_policy_fully,
    delete_role_fully,
    delete_user_fully,
)

IMPLEMENTED = {"iam": set(users.HANDLERS) | set(policies.HANDLERS) | set(roles.HANDLERS) | set(oidc.HANDLERS)
               | set(mfa.HANDLERS) | set(logins.HANDLERS) | set(credential_report.HANDLERS),
               "sts": {"GetCallerIdentity"} | set(assume.HANDLERS) | set(messages.HANDLERS)
               | set(web_identity.HANDLERS)}
POOL = ["fz-a", "fz-b", "fz-c"]
VALID_DOC = json.dumps({"Version": "2012-10-17",
                        "Statement": [{"Effect": "Allow", "Action": "s3:GetObject", "Resource": "*"}]})
DOCUMENTS = [
    VALID_DOC,
    "",
    "{",
    "[" * 5000 + "]" * 5000,
    '{"a":' * 3000 + "1" + "}" * 3000,
    json.dumps({"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "*",
                                                        "Resource": "x" * 300_000}]}),
    json.dumps({"Version": "2012-10-17", "Statement": 5}),
    json.dumps({"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": ["s3:*"] * 2000,
                                                        "Resource": "*", "Condition": {"Bogus": {"a": 1}}}]}),
    json.dumps({"Statement": [{"Effect": "Deny", "NotAction": "iam:*", "Resource": "arn:aws:s3:::ü"}]}),
    '{"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "s3:*", "Resource": "*"}], "x": 1e999}',
    "null",
    "\x00\ud7ff",
]
JUNK = ["", " ", "x" * 65, "x" * 5000, "ü", "😀", "\x00", "a b", "../..", "/", "//", "/a", "%FF", "-1", "0",
        "1e3", "true", "99999999999999999999", "٣", "arn:aws:iam::aws:policy/ReadOnlyAccess",
        "arn:aws:iam::123456789012:user/fz-a", "arn:aws:iam::aws:policy/", "arn:", "*", "v1", "v99", "Active",
        "AKIAFUZZFUZZFUZZFUZZ", "1.abc", "9999999999.0123456789abcdef"]
LIST_INDEXES = ["1", "1", "2", "3", "0", "-1", "01", "99999999999", "a", "1" * 5000, "1.5", ""]


@pytest.fixture(scope="module")
def endpoint(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A server of this module's own: random IAM actions change account-wide state (the password policy, the
    alias, the credential report) that other modules' tests on the shared server read."""
    srv = StoreroomServer(tmp_path_factory.mktemp("iam-fuzz") / "data", workers=2)
    srv.start()
    yield srv.endpoint
    srv.stop()


@pytest.fixture(scope="module")
def account(endpoint: str) -> str:
    return str(make_client(endpoint, service="sts").get_caller_identity()["Account"])


def _model(service: str) -> Any:
    return botocore.session.get_session().get_service_model(service)


def _scalar(draw: Any, shape: Any, name: str, account: str) -> str:
    kind = shape.type_name
    if kind in ("integer", "long"):
        return str(draw(st.one_of(st.integers(-3, 1200).map(str), st.sampled_from(JUNK))))
    if kind == "boolean":
        return str(draw(st.sampled_from(["true", "false", "TRUE", "yes", ""])))
    if "Document" in name or "PolicyInput" in name or name == "ResourcePolicy":
        return str(draw(st.sampled_from(DOCUMENTS)))
    choices = [st.sampled_from(POOL), st.sampled_from(JUNK), st.text(max_size=20)]
    if name.endswith("Arn") or name in ("PermissionsBoundary", "PolicySourceArn"):
        choices.append(st.sampled_from([f"arn:aws:iam::{account}:policy/{n}" for n in POOL]
                                       + [f"arn:aws:iam::{account}:user/{n}" for n in POOL]
                                       + [f"arn:aws:iam::{account}:role/{n}" for n in POOL]
                                       + [f"arn:aws:iam::{account}:oidc-provider/{n}.example" for n in POOL]))
    if shape.enum:
        choices.append(st.sampled_from(list(shape.enum)))
    return str(draw(st.one_of(*choices)))


def _params(draw: Any, shape: Any, prefix: str, account: str, depth: int = 0) -> list[tuple[str, str]]:
    """Flat Query parameters for ``shape``: each member present or not, some of the wrong kind."""
    pairs: list[tuple[str, str]] = []
    for name, member in shape.members.items():
        if not draw(st.booleans()) and name not in shape.required_members:
            continue
        if name in shape.required_members and draw(st.integers(0, 9)) == 0:
            continue  # a required member left out
        key = prefix + name
        if member.type_name == "structure" and depth < 3:
            pairs += _params(draw, member, key + ".", account, depth + 1)
        elif member.type_name == "list" and depth < 3:
            pairs += _list(draw, member, key, account, depth)
        else:
            pairs.append((key, _scalar(draw, member, name, account)))
    return pairs


def _list(draw: Any, shape: Any, key: str, account: str, depth: int) -> list[tuple[str, str]]:
    if draw(st.integers(0, 6)) == 0:
        return [(key, "")]  # the empty list
    pairs: list[tuple[str, str]] = []
    for index in draw(st.lists(st.sampled_from(LIST_INDEXES), max_size=4)):
        item = f"{key}.member.{index}"
        if shape.member.type_name == "structure":
            pairs += _params(draw, shape.member, item + ".", account, depth + 1)
        else:
            pairs.append((item, _scalar(draw, shape.member, key.rpartition(".")[2], account)))
    return pairs


def _encode(pairs: list[tuple[str, str]]) -> str:
    return "&".join(f"{quote(k, safe='')}={quote(v, safe='')}" for k, v in pairs)


MAX_URL_PARAMS = 12 * 1024  # with the presigning parameters, well under the edge's 16 KiB request line


@st.composite
def query_requests(draw: Any, service: str, account: str) -> tuple[str, str, str, bytes, dict[str, str]]:
    """(action, method, query string, body, headers) of one Query-protocol request."""
    model = _model(service)
    action = draw(st.one_of(st.sampled_from(sorted(model.operation_names)),
                            st.sampled_from(["", "listusers", "Nope", "ListUsers ", "%00"])))
    op = model.operation_model(action) if action in model.operation_names else None
    pairs = _params(draw, op.input_shape, "", account) if op is not None and op.input_shape else []
    if draw(st.booleans()) and pairs:
        pairs.append(draw(st.sampled_from(pairs)))  # a name given twice
    version = draw(st.sampled_from([model.api_version] * 4 + [None, "", "1999-01-01"]))
    head = [("Action", action)] + ([("Version", version)] if version is not None else [])
    # A request line beyond the edge's limit (16 KiB, storeroom/http/edge.py) is refused before the service is
    # known, in S3's shape (AWS's front ends answer such URLs with an HTML 414): huge parameters travel in the
    # body. tests/e2e/test_edge_limits.py tests that limit.
    small = len(_encode(pairs)) < MAX_URL_PARAMS
    method = draw(st.sampled_from(["POST"] * 5 + ["GET"])) if small else "POST"
    where = draw(st.sampled_from(["body", "body", "split", "query"] if small else ["body", "split"])) \
        if method == "POST" else "query"
    query = _encode(head + pairs) if where == "query" else _encode(head) if where == "split" else ""
    body = "" if where == "query" else _encode(pairs if where == "split" else head + pairs)
    raw = draw(st.sampled_from(["", "", "", "&%FF%FE=%C3%28", "&=&&a", "&Tags.member.1.Key=%G1", "&\u00e9=1"]))
    content_type = draw(st.sampled_from(["application/x-www-form-urlencoded; charset=utf-8"] * 3
                                        + ["application/x-www-form-urlencoded", "text/plain", None]))
    headers = {} if content_type is None else {"Content-Type": content_type}
    return action, method, query, (body + raw).encode() if method == "POST" else b"", headers


def check_answer(service: str, action: str, response: requests.Response) -> None:
    status, text = response.status_code, response.text[:500]
    root = ET.fromstring(response.content)
    tag = root.tag.rpartition("}")[2]
    if status == 501:
        assert action not in IMPLEMENTED[service], (action, text)
    else:
        assert status < 500, (action, text)
    if status >= 400:
        assert tag == "ErrorResponse", (action, text)
        error = root.find("{*}Error")
        assert error is not None and error.findtext("{*}Code"), text
        # AWS sends the credential report's state errors without a message; every other error has one
        if error.findtext("{*}Code") not in ("ReportNotPresent", "ReportInProgress", "ReportExpired"):
            assert error.findtext("{*}Message") is not None, text
    else:
        assert tag == f"{action}Response", (action, text)


def send(endpoint: str, service: str, request: tuple[str, str, str, bytes, dict[str, str]]) -> requests.Response:
    _, method, query, body, headers = request
    url = f"{endpoint}/" + (f"?{query}" if query else "")
    return signed_request(method, url, headers, body, service=service, region="us-east-1", timeout=20)


@pytest.fixture(scope="module")
def cleanup(endpoint: str) -> Iterator[None]:
    yield
    iam = make_client(endpoint, service="iam")
    for name in POOL:
        delete_user_fully(iam, name)
        delete_group_fully(iam, name)
        delete_role_fully(iam, name)
        best_effort(lambda n=name: iam.delete_instance_profile(InstanceProfileName=n))
    for provider in iam.list_open_id_connect_providers()["OpenIDConnectProviderList"]:
        best_effort(lambda arn=provider["Arn"]: iam.delete_open_id_connect_provider(OpenIDConnectProviderArn=arn))
    for policy in iam.list_policies(Scope="Local")["Policies"]:
        if policy["PolicyName"] in POOL:
            delete_policy_fully(iam, policy["Arn"])
    for key in iam.list_access_keys()["AccessKeyMetadata"]:
        if key["AccessKeyId"] != ROOT_ACCESS_KEY_ID:
            iam.delete_access_key(AccessKeyId=key["AccessKeyId"])


def _healthy(endpoint: str) -> None:
    assert requests.get(f"{endpoint}/_storeroom/health", timeout=5).status_code == 200
    make_client(endpoint, service="iam").list_users(MaxItems=1)


@pytest.mark.parametrize("service, examples", [("iam", 150), ("sts", 40)])
def test_random_query_requests_get_aws_shaped_answers(endpoint: str, account: str, cleanup: None, service: str,
                                                      examples: int) -> None:
    @settings(max_examples=examples, deadline=None, database=None,
              suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
    @given(request=query_requests(service, account))
    def run(request: tuple[str, str, str, bytes, dict[str, str]]) -> None:
        check_answer(service, request[0], send(endpoint, service, request))

    run()
    _healthy(endpoint)


# -- the cases the fuzz found, kept as plain regression tests ----------------------------------------------------


def _post(endpoint: str, body: str | bytes, service: str = "iam") -> requests.Response:
    data = body.encode() if isinstance(body, str) else body
    return signed_request("POST", f"{endpoint}/", {"Content-Type": "application/x-www-form-urlencoded"}, data,
                          service=service, region="us-east-1")


def _code(response: requests.Response) -> str | None:
    return ET.fromstring(response.content).findtext("{*}Error/{*}Code")


def test_body_is_read_when_the_client_sends_x_amz_content_sha256(endpoint: str) -> None:
    """S3-style signers (botocore's S3SigV4Auth, several SDKs) send x-amz-content-sha256 on every request: the
    form body must still be read (it was ignored: every such request was 'Could not find operation')."""
    response = _post(endpoint, "Action=ListUsers&Version=2010-05-08&MaxItems=1")
    assert response.status_code == 200, response.text
    response = _post(endpoint, "Action=GetCallerIdentity&Version=2011-06-15", service="sts")
    assert response.status_code == 200, response.text


def test_a_body_that_is_not_the_signed_one_is_refused(endpoint: str) -> None:
    response = signed_request("POST", f"{endpoint}/", {"Content-Type": "application/x-www-form-urlencoded"},
                              b"Action=ListUsers&Version=2010-05-08",
                              send_body=b"Action=ListGroups&Version=2010-05-08", service="iam", region="us-east-1")
    assert (response.status_code, _code(response)) == (403, "SignatureDoesNotMatch")


@pytest.mark.parametrize("body", [
    "Action=TagUser&Version=2010-05-08&UserName=fz-a&Tags.member." + "1" * 5000 + ".Key=a",
    "Action=TagUser&Version=2010-05-08&UserName=fz-a&Tags.member.99999999999.Key=a",
    "Action=ListUsers&Version=2010-05-08&MaxItems=" + "9" * 5000,
    "Action=ListUsers&Version=2010-05-08&MaxItems=%D9%A3",
])
def test_odd_numbers_are_validation_errors(endpoint: str, body: str) -> None:
    response = _post(endpoint, body)
    assert (response.status_code, _code(response)) == (400, "ValidationError"), response.text[:300]


@pytest.mark.parametrize("marker", ["%C2%B2.abc", "%C2%B9.x", "1_0.x", "%20" + "1.x"])
@pytest.mark.parametrize("action", ["ListPolicies", "ListAccessKeys"])
def test_odd_markers_are_invalid(endpoint: str, action: str, marker: str) -> None:
    """"²" passed str.isdigit() and then failed int() (500)."""
    response = _post(endpoint, f"Action={action}&Version=2010-05-08&Marker={marker}")
    assert (response.status_code, _code(response)) == (400, "ValidationError"), response.text[:300]


def test_many_list_members_do_not_hang(endpoint: str) -> None:
    """A 1 MiB form of list members is parsed in linear time (it was quadratic: minutes of CPU)."""
    members = "&".join(f"Tags.member.{i}.Key=k{i}&Tags.member.{i}.Value=v" for i in range(1, 18_000))
    response = _post(endpoint, f"Action=TagUser&Version=2010-05-08&UserName=fz-nobody&{members}")
    assert (response.status_code, _code(response)) == (400, "ValidationError"), response.text[:300]
    assert "Member must have length less than or equal to 50" in response.text
