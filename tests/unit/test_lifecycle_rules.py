"""The lifecycle configuration's validation (S3's error for each fault), when actions fall due, and what the rules
do to one key's versions (storeroom/s3/lifecycle.py: ``parse``, ``due``, ``plan_key``)."""

from __future__ import annotations

import calendar

import pytest

from storeroom.errors import AwsError
from storeroom.s3 import xml
from storeroom.s3.lifecycle import Configuration, due, dumps, loads, parse, plan_key, render
from storeroom.store.meta import ObjectRecord

DAY = 86400
T0 = calendar.timegm((2014, 1, 15, 10, 30, 0))  # AWS's example: 1/15/2014 10:30 AM UTC


def config(*rules: str) -> Configuration:
    body = "<LifecycleConfiguration>" + "".join(f"<Rule>{r}</Rule>" for r in rules) + "</LifecycleConfiguration>"
    return parse(xml.parse(body.encode()))


def refused(*rules: str) -> tuple[str, str]:
    with pytest.raises(AwsError) as err:
        config(*rules)
    return err.value.code, err.value.message


def version(key: str = "logs/a", mtime: float = T0, size: int = 10, version_id: str = "v", marker: bool = False,
            tags: dict[str, str] | None = None) -> ObjectRecord:
    return ObjectRecord("b", key, size, "e", mtime, [], {}, version_id=version_id, marker=marker, tags=tags)


def test_due_rounds_up_to_the_next_midnight() -> None:
    # "created on 1/15/2014 at 10:30 AM UTC and you specify 3 days ... 1/19/2014 00:00 UTC"
    assert due(T0, 3) == calendar.timegm((2014, 1, 19, 0, 0, 0))


@pytest.mark.parametrize(("rule", "code", "message"), [
    ("<Status>enabled</Status><Filter/><Expiration><Days>1</Days></Expiration>", "MalformedXML", None),
    ("<Status>Enabled</Status><Expiration><Days>1</Days></Expiration>", "MalformedXML", None),
    ("<Status>Enabled</Status><Prefix>a</Prefix><Filter/><Expiration><Days>1</Days></Expiration>", "MalformedXML",
     None),
    ("<Status>Enabled</Status><Filter><Prefix>a</Prefix><ObjectSizeLessThan>5</ObjectSizeLessThan></Filter>"
     "<Expiration><Days>1</Days></Expiration>", "MalformedXML", None),
    ("<Status>Enabled</Status><Filter><And><Prefix>a</Prefix></And></Filter><Expiration><Days>1</Days></Expiration>",
     "MalformedXML", None),
    ("<Status>Enabled</Status><Filter/><Expiration><Days>1</Days><ExpiredObjectDeleteMarker>true"
     "</ExpiredObjectDeleteMarker></Expiration>", "MalformedXML", None),
    ("<Status>Enabled</Status><Filter/><Expiration></Expiration>", "MalformedXML", None),
    ("<Status>Enabled</Status><Filter/><Expiration><Days>0</Days></Expiration>", "InvalidArgument",
     "'Days' for Expiration action must be a positive integer"),
    ("<Status>Enabled</Status><Filter/><Expiration><Date>2030-01-01T12:00:00Z</Date></Expiration>",
     "InvalidArgument", "'Date' must be at midnight GMT"),
    ("<Status>Enabled</Status><Filter/><Expiration><Days>x</Days></Expiration>", "MalformedXML", None),
    ("<ID>" + "i" * 256 + "</ID><Status>Enabled</Status><Filter/><Expiration><Days>1</Days></Expiration>",
     "InvalidArgument", "ID length should not exceed allowed limit of 255"),
    ("<Status>Enabled</Status><Filter/>", "InvalidRequest", "At least one action needs to be specified in a rule"),
    ("<Status>Enabled</Status><Filter/><NoncurrentVersionExpiration><NoncurrentDays>0</NoncurrentDays>"
     "</NoncurrentVersionExpiration>", "InvalidArgument",
     "'NoncurrentDays' for NoncurrentVersionExpiration action must be a positive integer"),
    ("<Status>Enabled</Status><Filter/><NoncurrentVersionExpiration/>", "MalformedXML", None),
    ("<Status>Enabled</Status><Filter/><AbortIncompleteMultipartUpload><DaysAfterInitiation>0"
     "</DaysAfterInitiation></AbortIncompleteMultipartUpload>", "InvalidArgument",
     "'DaysAfterInitiation' for AbortIncompleteMultipartUpload action must be a positive integer"),
    ("<Status>Enabled</Status><Filter><Tag><Key>a</Key><Value>b</Value></Tag></Filter>"
     "<AbortIncompleteMultipartUpload><DaysAfterInitiation>1</DaysAfterInitiation></AbortIncompleteMultipartUpload>",
     "InvalidRequest", "AbortIncompleteMultipartUpload cannot be specified with Tags."),
    ("<Status>Enabled</Status><Filter><ObjectSizeGreaterThan>5</ObjectSizeGreaterThan></Filter>"
     "<Expiration><ExpiredObjectDeleteMarker>true</ExpiredObjectDeleteMarker></Expiration>", "InvalidRequest",
     "ExpiredObjectDeleteMarker cannot be specified with Object Size."),
    ("<Status>Enabled</Status><Filter><And><Tag><Key>a</Key><Value>1</Value></Tag><Tag><Key>a</Key><Value>2</Value>"
     "</Tag></And></Filter><Expiration><Days>1</Days></Expiration>", "InvalidRequest",
     "Duplicate Tag Keys are not allowed."),
    ("<Status>Enabled</Status><Filter><And><ObjectSizeGreaterThan>10</ObjectSizeGreaterThan><ObjectSizeLessThan>10"
     "</ObjectSizeLessThan></And></Filter><Expiration><Days>1</Days></Expiration>", "InvalidRequest",
     "'ObjectSizeLessThan' has to be a value greater than 'ObjectSizeGreaterThan'."),
    ("<Status>Enabled</Status><Filter/><Transition><Days>30</Days><StorageClass>GLACIER</StorageClass></Transition>",
     "InvalidStorageClass", None),
    ("<Status>Enabled</Status><Filter/><Transition><Days>30</Days><StorageClass>ICE</StorageClass></Transition>",
     "MalformedXML", None),
])
def test_each_fault_gets_s3s_answer(rule: str, code: str, message: str | None) -> None:
    found = refused(rule)
    assert found[0] == code and (message is None or found[1] == message)


def test_rules_across_the_configuration() -> None:
    one = "<ID>same</ID><Status>Enabled</Status><Filter/><Expiration><Days>1</Days></Expiration>"
    assert refused(one, one) == ("InvalidArgument", "Rule ID must be unique. Found same ID for more than one rule")
    legacy = "<Status>Enabled</Status><Prefix>a</Prefix><Expiration><Days>1</Days></Expiration>"
    v2 = "<Status>Enabled</Status><Filter><Prefix>b</Prefix></Filter><Expiration><Days>1</Days></Expiration>"
    assert refused(legacy, v2)[0] == "InvalidRequest"
    overlapping = "<Status>Enabled</Status><Prefix>ab</Prefix><Expiration><Days>2</Days></Expiration>"
    assert refused(legacy, overlapping) == ("InvalidRequest", "Found overlapping prefixes 'a' and 'ab' for same "
                                                              "action type 'Expiration'")
    with pytest.raises(AwsError) as err:
        parse(xml.parse(b"<LifecycleConfiguration></LifecycleConfiguration>"))
    assert err.value.code == "MalformedXML"
    assert len(config(*[f"<ID>r{i}</ID><Status>Enabled</Status><Filter><Prefix>p{i}/</Prefix></Filter>"
                        "<Expiration><Days>1</Days></Expiration>" for i in range(1000)]).rules) == 1000
    assert refused(*[f"<ID>r{i}</ID><Status>Enabled</Status><Filter/><Expiration><Days>1</Days></Expiration>"
                     for i in range(1001)])[0] == "InvalidRequest"


def test_a_rule_without_id_gets_one_and_the_document_reads_back() -> None:
    parsed = config("<Status>Enabled</Status><Filter><And><Prefix>logs/</Prefix><Tag><Key>k</Key><Value>v</Value>"
                    "</Tag><ObjectSizeGreaterThan>100</ObjectSizeGreaterThan></And></Filter><Expiration><Days>7</Days>"
                    "</Expiration><NoncurrentVersionExpiration><NoncurrentDays>3</NoncurrentDays>"
                    "<NewerNoncurrentVersions>2</NewerNoncurrentVersions></NoncurrentVersionExpiration>",
                    "<ID>legacy</ID><Status>Disabled</Status><Filter><Prefix></Prefix></Filter>"
                    "<Expiration><Date>2030-01-01T00:00:00Z</Date></Expiration>")
    assert len(parsed.rules[0].id) == 48
    again = loads(dumps(parsed))
    assert again == parsed
    assert render(again) == render(parse(xml.parse(render(again))))  # what GET answers, PUT takes


def test_expiration_picks_the_earliest_matching_rule() -> None:
    parsed = config("<ID>long</ID><Status>Enabled</Status><Filter/><Expiration><Days>30</Days></Expiration>",
                    "<ID>logs</ID><Status>Enabled</Status><Filter><Prefix>logs/</Prefix></Filter>"
                    "<Expiration><Days>3</Days></Expiration>",
                    "<ID>off</ID><Status>Disabled</Status><Filter/><Expiration><Days>1</Days></Expiration>",
                    "<ID>tagged</ID><Status>Enabled</Status><Filter><Tag><Key>t</Key><Value>1</Value></Tag></Filter>"
                    "<Expiration><Days>2</Days></Expiration>")
    assert parsed.expiration(version("logs/a")) == (due(T0, 3), "logs")
    assert parsed.expiration(version("data/a")) == (due(T0, 30), "long")
    assert parsed.expiration(version("data/a", tags={"t": "1"})) == (due(T0, 2), "tagged")


def test_plan_of_an_unversioned_key() -> None:
    parsed = config("<ID>r</ID><Status>Enabled</Status><Filter><And><Prefix>logs/</Prefix><ObjectSizeLessThan>100"
                    "</ObjectSizeLessThan></And></Filter><Expiration><Days>1</Days></Expiration>")
    current = version("logs/a", size=10)
    assert plan_key(parsed, None, [current], due(T0, 1) - 1) == []
    assert [(a.kind, a.rule_id) for a in plan_key(parsed, None, [current], due(T0, 1))] == [("expire", "r")]
    assert plan_key(parsed, None, [version("logs/a", size=100)], T0 + 10 * DAY) == []   # "exclude the values"
    assert plan_key(parsed, None, [version("other/a")], T0 + 10 * DAY) == []


def test_plan_of_versions() -> None:
    parsed = config("<ID>nc</ID><Status>Enabled</Status><Filter/><NoncurrentVersionExpiration><NoncurrentDays>5"
                    "</NoncurrentDays><NewerNoncurrentVersions>1</NewerNoncurrentVersions>"
                    "</NoncurrentVersionExpiration>",
                    "<ID>dm</ID><Status>Enabled</Status><Filter/><Expiration><ExpiredObjectDeleteMarker>true"
                    "</ExpiredObjectDeleteMarker></Expiration>")
    # newest first: current, then noncurrent versions made noncurrent by their successors' creation
    history = [version(mtime=T0 + 3 * DAY, version_id="v4"), version(mtime=T0 + 2 * DAY, version_id="v3"),
               version(mtime=T0 + DAY, version_id="v2"), version(mtime=T0, version_id="v1")]
    # at 5 days past v3's successor (v4, T0+3d): v3 is the one newer noncurrent version kept; v2 (successor v3)
    # and v1 are past 5 days and beyond the one to keep
    at = due(T0 + 3 * DAY, 5)
    assert [(a.kind, a.version.version_id) for a in plan_key(parsed, "Enabled", history, at)] == [
        ("delete", "v2"), ("delete", "v1")]
    assert plan_key(parsed, "Enabled", history, due(T0 + DAY, 5) - 1) == []
    assert plan_key(parsed, None, history, at) == []  # noncurrent rules do nothing in an unversioned bucket
    lone = [version(marker=True, version_id="m")]
    assert [(a.kind, a.rule_id) for a in plan_key(parsed, "Enabled", lone, T0)] == [("marker", "dm")]
    assert plan_key(parsed, "Enabled", [version(marker=True), version(mtime=T0 - DAY)], T0) == []  # not alone


def test_a_days_rule_also_removes_old_lone_delete_markers() -> None:
    parsed = config("<ID>d</ID><Status>Enabled</Status><Filter/><Expiration><Days>2</Days></Expiration>")
    lone = [version(marker=True, mtime=T0)]
    assert plan_key(parsed, "Enabled", lone, due(T0, 2) - 1) == []
    assert [a.kind for a in plan_key(parsed, "Enabled", lone, due(T0, 2))] == ["marker"]
    # a versioned current object expires into a delete marker (the run makes it); the key's latest is an object
    assert [a.kind for a in plan_key(parsed, "Enabled", [version()], due(T0, 2))] == ["expire"]
