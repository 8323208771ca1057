"""Best-effort removal of IAM entities that tests made, with everything that would make IAM refuse to delete
them (DeleteConflict): keys, attachments, inline policies, memberships, boundaries, versions."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any


def best_effort(*calls: Callable[[], Any]) -> None:
    for call in calls:
        try:
            call()
        except Exception:  # noqa: BLE001 - cleanup only: the test's own assertions matter
            pass


def delete_user_fully(iam: Any, name: str) -> None:
    def mfa_devices() -> None:
        for device in iam.list_mfa_devices(UserName=name)["MFADevices"]:
            best_effort(lambda d=device: iam.deactivate_mfa_device(UserName=name, SerialNumber=d["SerialNumber"]),
                        lambda d=device: iam.delete_virtual_mfa_device(SerialNumber=d["SerialNumber"]))

    best_effort(
        lambda: iam.delete_login_profile(UserName=name),
        mfa_devices,
        lambda: [iam.delete_access_key(UserName=name, AccessKeyId=k["AccessKeyId"])
                 for k in iam.list_access_keys(UserName=name)["AccessKeyMetadata"]],
        lambda: [iam.detach_user_policy(UserName=name, PolicyArn=p["PolicyArn"])
                 for p in iam.list_attached_user_policies(UserName=name)["AttachedPolicies"]],
        lambda: [iam.delete_user_policy(UserName=name, PolicyName=p)
                 for p in iam.list_user_policies(UserName=name)["PolicyNames"]],
        lambda: [iam.remove_user_from_group(UserName=name, GroupName=g["GroupName"])
                 for g in iam.list_groups_for_user(UserName=name)["Groups"]],
        lambda: iam.delete_user_permissions_boundary(UserName=name),
        lambda: iam.delete_user(UserName=name),
    )


def delete_group_fully(iam: Any, name: str) -> None:
    best_effort(
        lambda: [iam.remove_user_from_group(GroupName=name, UserName=u["UserName"])
                 for u in iam.get_group(GroupName=name)["Users"]],
        lambda: [iam.detach_group_policy(GroupName=name, PolicyArn=p["PolicyArn"])
                 for p in iam.list_attached_group_policies(GroupName=name)["AttachedPolicies"]],
        lambda: [iam.delete_group_policy(GroupName=name, PolicyName=p)
                 for p in iam.list_group_policies(GroupName=name)["PolicyNames"]],
        lambda: iam.delete_group(GroupName=name),
    )


def delete_role_fully(iam: Any, name: str) -> None:
    def profiles() -> None:
        for profile in iam.list_instance_profiles_for_role(RoleName=name)["InstanceProfiles"]:
            best_effort(lambda p=profile: iam.remove_role_from_instance_profile(
                InstanceProfileName=p["InstanceProfileName"], RoleName=name))

    best_effort(
        profiles,
        lambda: [iam.detach_role_policy(RoleName=name, PolicyArn=p["PolicyArn"])
                 for p in iam.list_attached_role_policies(RoleName=name)["AttachedPolicies"]],
        lambda: [iam.delete_role_policy(RoleName=name, PolicyName=p)
                 for p in iam.list_role_policies(RoleName=name)["PolicyNames"]],
        lambda: iam.delete_role(RoleName=name),
    )


def delete_policy_fully(iam: Any, arn: str) -> None:
    def detach_all() -> None:
        found = iam.list_entities_for_policy(PolicyArn=arn)
        for user in found["PolicyUsers"]:
            best_effort(lambda u=user: iam.detach_user_policy(UserName=u["UserName"], PolicyArn=arn))
        for group in found["PolicyGroups"]:
            best_effort(lambda g=group: iam.detach_group_policy(GroupName=g["GroupName"], PolicyArn=arn))
        for role in found["PolicyRoles"]:
            best_effort(lambda r=role: iam.detach_role_policy(RoleName=r["RoleName"], PolicyArn=arn))
        bounded = iam.list_entities_for_policy(PolicyArn=arn, PolicyUsageFilter="PermissionsBoundary")
        for user in bounded["PolicyUsers"]:
            best_effort(lambda u=user: iam.delete_user_permissions_boundary(UserName=u["UserName"]))

    best_effort(
        detach_all,
        lambda: [iam.delete_policy_version(PolicyArn=arn, VersionId=v["VersionId"])
                 for v in iam.list_policy_versions(PolicyArn=arn)["Versions"] if not v["IsDefaultVersion"]],
        lambda: iam.delete_policy(PolicyArn=arn),
    )
