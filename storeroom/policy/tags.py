"""Condition keys that tags give a request (https://docs.aws.amazon.com/IAM/latest/UserGuide/access_tags.html):
``aws:RequestTag/<key>`` and ``aws:TagKeys`` for the tags a request sets, ``aws:ResourceTag/<key>`` (and a
service's own prefix) for the tags a resource has.  Key names are lower-cased, as the evaluation compares them."""

from __future__ import annotations

from collections.abc import Sequence


def tag_keys(prefix: str, tags: Sequence[tuple[str, str]]) -> dict[str, Sequence[str]]:
    """``<prefix>/<key>`` for each tag (``aws:resourcetag``, ``iam:resourcetag`` ...)."""
    return {f"{prefix}/{k.lower()}": (v,) for k, v in tags}


def request_tag_keys(tags: Sequence[tuple[str, str]]) -> dict[str, Sequence[str]]:
    """``aws:RequestTag/<key>`` and ``aws:TagKeys`` of the tags a request sets."""
    return {**tag_keys("aws:requesttag", tags), "aws:tagkeys": tuple(k for k, _ in tags)}
