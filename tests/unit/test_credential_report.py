"""The credential report's rows from principals' credentials (sans-IO): AWS's words for each case, including
the credentials Storeroom does not have yet (passwords, MFA, signing certificates), which a later issue feeds in."""

from __future__ import annotations

import csv
import io

from storeroom.iam.credential_report import COLUMNS, AccessKey, Certificate, Password, Subject, render, row

T0 = 1_500_000_000.0  # 2017-07-14T02:40:00+00:00
T1 = T0 + 3600


def as_dict(subject: Subject) -> dict[str, str]:
    return dict(zip(COLUMNS, row(subject), strict=True))


def test_user_without_credentials() -> None:
    got = as_dict(Subject("bob", "arn:aws:iam::123456789012:user/bob", T0))
    assert got == {
        "user": "bob", "arn": "arn:aws:iam::123456789012:user/bob", "user_creation_time": "2017-07-14T02:40:00+00:00",
        "password_enabled": "false", "password_last_used": "N/A", "password_last_changed": "N/A",
        "password_next_rotation": "N/A", "mfa_active": "false",
        **{f"access_key_{n}_{c}": ("false" if c == "active" else "N/A") for n in (1, 2)
           for c in ("active", "last_rotated", "last_used_date", "last_used_region", "last_used_service")},
        "cert_1_active": "false", "cert_1_last_rotated": "N/A", "cert_2_active": "false", "cert_2_last_rotated": "N/A",
    }


def test_root_row_words() -> None:
    root = as_dict(Subject("<root_account>", "arn:aws:iam::123456789012:root", T0, is_root=True,
                           password=Password(T0, last_used=T1), mfa_active=True))
    assert [root[c] for c in COLUMNS[3:8]] == \
        ["not_supported", "2017-07-14T03:40:00+00:00", "not_supported", "not_supported", "true"]
    no_password = as_dict(Subject("<root_account>", "arn:aws:iam::123456789012:root", T0, is_root=True))
    assert [no_password[c] for c in COLUMNS[3:7]] == ["not_supported", "N/A", "not_supported", "not_supported"]


def test_password_never_used_is_no_information() -> None:
    got = as_dict(Subject("carol", "arn", T0, password=Password(T0, next_rotation=T1)))
    assert [got[c] for c in COLUMNS[3:7]] == \
        ["true", "no_information", "2017-07-14T02:40:00+00:00", "2017-07-14T03:40:00+00:00"]


def test_keys_in_order_inactive_keeps_its_dates() -> None:
    got = as_dict(Subject("dave", "arn", T0, access_keys=(
        AccessKey(True, T0, T1, "eu-west-1", "s3"), AccessKey(False, T1))))
    assert [got[f"access_key_1_{c}"] for c in ("active", "last_rotated", "last_used_date", "last_used_region",
                                                 "last_used_service")] == \
        ["true", "2017-07-14T02:40:00+00:00", "2017-07-14T03:40:00+00:00", "eu-west-1", "s3"]
    assert [got[f"access_key_2_{c}"] for c in ("active", "last_rotated", "last_used_date", "last_used_region",
                                                 "last_used_service")] == \
        ["false", "2017-07-14T03:40:00+00:00", "N/A", "N/A", "N/A"]


def test_certificates() -> None:
    got = as_dict(Subject("erin", "arn", T0, certificates=(Certificate(True, T0),)))
    assert [got[c] for c in COLUMNS[18:]] == ["true", "2017-07-14T02:40:00+00:00", "false", "N/A"]


def test_render_is_csv_with_the_header_first() -> None:
    text = render([Subject("a,b", "arn", None)])  # IAM names may contain commas: quoted, as CSV wants
    header, first = list(csv.reader(io.StringIO(text)))
    assert header == list(COLUMNS) and first[0] == "a,b" and first[2] == "N/A"
    assert text.endswith("\n") and "\r" not in text
