"""The AWS managed policies Storeroom knows: AWS's own ids, ARNs, dates and default-version documents.

Documents are AWS's current default versions, as ``GetPolicyVersion`` returns them (from the AWS managed policy
reference, https://docs.aws.amazon.com/aws-managed-policy/latest/reference/); ids and dates as ``GetPolicy``
returns them.  Actions of services Storeroom does not implement (``s3-object-lambda:*``, ``organizations:*``)
are kept: they never match a Storeroom request, and the documents stay byte-for-byte AWS's.
"""

from __future__ import annotations

import functools
import json
from dataclasses import dataclass
from datetime import datetime

from storeroom.policy.document import Policy, parse_policy


def _epoch(iso: str) -> float:
    return datetime.fromisoformat(iso).timestamp()


def _document(*statements: dict[str, object]) -> str:
    """AWS's pretty-printing of managed policy documents (``"Key" : value``, two-space indent)."""
    text = json.dumps({"Version": "2012-10-17", "Statement": list(statements)}, indent=2)
    return text.replace('": ', '" : ')


@dataclass(frozen=True)
class ManagedPolicy:
    name: str
    policy_id: str
    path: str
    default_version_id: str
    create_date: float                   # epoch seconds
    update_date: float
    description: str
    document: str                        # the default version's JSON text

    @property
    def arn(self) -> str:
        return f"arn:aws:iam::aws:policy{self.path}{self.name}"

    @functools.cached_property
    def policy(self) -> Policy:
        return parse_policy(self.document, kind="managed")


_CATALOG = (
    ManagedPolicy(
        "AdministratorAccess", "ANPAIWMBCKSKIEE64ZLYK", "/", "v1",
        _epoch("2015-02-06T18:39:46+00:00"), _epoch("2015-02-06T18:39:46+00:00"),
        "Provides full access to AWS services and resources.",
        _document({"Effect": "Allow", "Action": "*", "Resource": "*"}),
    ),
    ManagedPolicy(
        "PowerUserAccess", "ANPAJYRXTHIB4FOVS3ZXS", "/", "v12",
        _epoch("2015-02-06T18:39:47+00:00"), _epoch("2026-02-12T17:59:14+00:00"),
        "Provides full access to AWS services and resources, but does not allow management of Users and groups.",
        _document({"Effect": "Allow", "NotAction": ["iam:*", "organizations:*", "account:*"], "Resource": "*"},
                  {"Effect": "Allow",
                   "Action": ["account:GetAccountInformation", "account:GetGovCloudAccountInformation",
                              "account:GetPrimaryEmail", "account:ListRegions", "iam:CreateServiceLinkedRole",
                              "iam:DeleteServiceLinkedRole", "iam:ListRoles", "organizations:DescribeEffectivePolicy",
                              "organizations:DescribeOrganization"],
                   "Resource": "*"}),
    ),
    ManagedPolicy(
        "AmazonS3FullAccess", "ANPAIFIR6V6BVTRAHWINE", "/", "v2",
        _epoch("2015-02-06T18:40:58+00:00"), _epoch("2021-09-27T20:16:37+00:00"),
        "Provides full access to all buckets via the AWS Management Console.",
        _document({"Effect": "Allow", "Action": ["s3:*", "s3-object-lambda:*"], "Resource": "*"}),
    ),
    ManagedPolicy(
        "AmazonS3ReadOnlyAccess", "ANPAIZTJ4DXE7G6AGAE6M", "/", "v3",
        _epoch("2015-02-06T18:40:59+00:00"), _epoch("2023-08-10T21:31:39+00:00"),
        "Provides read only access to all buckets via the AWS Management Console.",
        _document({"Effect": "Allow",
                   "Action": ["s3:Get*", "s3:List*", "s3:Describe*", "s3-object-lambda:Get*",
                              "s3-object-lambda:List*"],
                   "Resource": "*"}),
    ),
    ManagedPolicy(
        "IAMFullAccess", "ANPAI7XKCFMBPM3QQRRVQ", "/", "v2",
        _epoch("2015-02-06T18:40:38+00:00"), _epoch("2019-06-21T19:40:00+00:00"),
        "Provides full access to IAM via the AWS Management Console.",
        _document({"Effect": "Allow",
                   "Action": ["iam:*", "organizations:DescribeAccount", "organizations:DescribeOrganization",
                              "organizations:DescribeOrganizationalUnit", "organizations:DescribePolicy",
                              "organizations:ListChildren", "organizations:ListParents",
                              "organizations:ListPoliciesForTarget", "organizations:ListRoots",
                              "organizations:ListPolicies", "organizations:ListTargetsForPolicy"],
                   "Resource": "*"}),
    ),
    ManagedPolicy(
        "IAMReadOnlyAccess", "ANPAJKSO7NDY4T57MWDSQ", "/", "v4",
        _epoch("2015-02-06T18:40:39+00:00"), _epoch("2018-01-25T19:11:27+00:00"),
        "Provides read only access to IAM via the AWS Management Console.",
        _document({"Effect": "Allow",
                   "Action": ["iam:GenerateCredentialReport", "iam:GenerateServiceLastAccessedDetails",
                              "iam:Get*", "iam:List*", "iam:SimulateCustomPolicy", "iam:SimulatePrincipalPolicy"],
                   "Resource": "*"}),
    ),
    ManagedPolicy(
        "IAMUserChangePassword", "ANPAJ4L4MM2A7QIEB56MS", "/", "v2",
        _epoch("2016-11-15T00:25:16+00:00"), _epoch("2016-11-15T23:18:55+00:00"),
        "Provides the ability for an IAM user to change their own password.",
        _document({"Effect": "Allow", "Action": ["iam:ChangePassword"],
                   "Resource": ["arn:aws:iam::*:user/${aws:username}"]},
                  {"Effect": "Allow", "Action": ["iam:GetAccountPasswordPolicy"], "Resource": "*"}),
    ),
)

# ARN -> policy
AWS_MANAGED: dict[str, ManagedPolicy] = {p.arn: p for p in _CATALOG}
