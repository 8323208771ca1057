"""Security credentials, of a user (its tab) or of the signed-in principal ("My security credentials"):
console sign-in, MFA devices ("Assign MFA device": QR code and two codes), access keys (the guide's steps 7-10:
"Create access key" → use case → description tag → "Retrieve access keys", shown once)."""

from __future__ import annotations

import base64
import unicodedata
from collections.abc import Awaitable, Callable
from typing import Any

from starlette.responses import Response

from storeroom.console.iam.common import Target, optional, target
from storeroom.console.iam.users import allow_password_change, generated_password, show_password, user_url
from storeroom.console.services import Caller, ServiceError, allowed
from storeroom.console.web import Page, Routes, stash_once, take_once

routes = Routes()
MAX_KEYS = 2          # IAM's quota of access keys per user (the API enforces it too)
ROOT_DEVICE = "root-account-mfa-device"   # the only name root's device may have (storeroom/iam/mfa.py)

# "Access key best practices & alternatives": AWS's use cases and what it recommends instead of a long-term key
USE_CASES = [
    ("cli", "Command Line Interface (CLI)",
     "You plan to use this access key to enable the AWS CLI to access your AWS account.",
     "Use the AWS CLI V2 with IAM Identity Center, or CloudShell, instead of long-term keys where you can."),
    ("local", "Local code",
     "You plan to use this access key to enable application code in a local development environment to access "
     "your AWS account.",
     "Use an IDE with IAM Identity Center support, or keep the key in environment variables, never in code."),
    ("compute", "Application running on an AWS compute service",
     "You plan to use this access key to enable application code running on an AWS compute service like "
     "Amazon EC2, Amazon ECS, or AWS Lambda to access your AWS account.",
     "Use IAM roles for the compute service instead of keys when the service supports them."),
    ("third-party", "Third-party service",
     "You plan to use this access key to enable access for a third-party application or service that monitors "
     "or manages your AWS resources.",
     "Give the service a role to assume, with the least privileges it needs, where it supports that."),
    ("outside", "Application running outside AWS",
     "You plan to use this access key to authenticate workloads running in your data center or other "
     "infrastructure outside of AWS that needs to access your AWS resources.",
     "Use IAM Roles Anywhere or temporary credentials where you can."),
    ("other", "Other", "Your use case is not listed here.", "Rotate the key regularly and delete it when unused."),
]


async def security_context(page: Page, name: str | None) -> dict[str, Any]:
    """What the "Security credentials" sections show.  Each section stands alone, as on AWS's page: a refusal
    (AWS's own "manage only your MFA device" policy allows the MFA calls and nothing else) is said in its section
    instead of making the whole page the error page, where "Assign MFA device" could not be reached."""
    caller = page.caller
    params = {"UserName": name} if name else {}
    refused: dict[str, str] = {}

    async def keys() -> list[dict[str, Any]]:
        found = (await caller.iam("ListAccessKeys", **params)).get("AccessKeyMetadata", [])
        # the descriptions and last uses are extras: AWS's own access-key policy allows neither ListUserTags
        # nor, always, GetAccessKeyLastUsed; refused, they are shown as unknown (None)
        tags = await allowed(caller.iam("ListUserTags", UserName=name)) if name else None
        descriptions = {t["Key"]: t["Value"] for t in tags.get("Tags", [])} if tags else {}
        for key in found:
            used = await allowed(caller.iam("GetAccessKeyLastUsed", AccessKeyId=key["AccessKeyId"]))
            key["LastUsed"] = None if used is None else used.get("AccessKeyLastUsed", {})
            key["Description"] = descriptions.get(key["AccessKeyId"], "") if tags is not None else None
        return list(found)

    async def devices() -> list[dict[str, Any]]:
        return list((await caller.iam("ListMFADevices", **params)).get("MFADevices", []))

    async def profile() -> Any:
        return await optional(caller.iam("GetLoginProfile", **params)) if name else None

    async def section(key: str, read: Callable[[], Awaitable[Any]], empty: Any) -> Any:
        try:
            return await read()
        except ServiceError as err:
            if err.denial is None:
                raise
            refused[key] = f"{err.code}: {err.message}"
            return empty

    return {"keys": await section("keys", keys, []), "devices": await section("devices", devices, []),
            "profile": await section("profile", profile, None), "max_keys": MAX_KEYS, "refused": refused}


@routes.get("/iam/security-credentials")
async def my_credentials(page: Page) -> Response:
    assert page.principal is not None
    name = page.principal.user_name
    context = await security_context(page, name)
    return page.render("iam/my_credentials.html", target=target(page), **context)


# -- console access (a user's password) ---------------------------------------------------------------------


@routes.get("/iam/users/{name}/console-access")
async def console_access_form(page: Page) -> Response:
    name = page.param("name")
    profile = await optional(page.caller.iam("GetLoginProfile", UserName=name))
    return page.render("iam/console_access.html", name=name, profile=profile, url=user_url(name), error=None)


@routes.post("/iam/users/{name}/console-access")
async def console_access(page: Page) -> Response:
    name, caller = page.param("name"), page.caller
    profile = await optional(caller.iam("GetLoginProfile", UserName=name))
    if page.field("access") == "disable":
        if profile:
            await caller.iam("DeleteLoginProfile", UserName=name)
        return page.redirect(user_url(name) + "?tab=security", flash=f"Console access disabled for {name}.")
    custom = page.field("password_kind") == "custom"
    password = page.field("password") if custom else await generated_password(caller)
    reset = page.field("reset_required") == "on"
    try:
        if profile:
            await caller.iam("UpdateLoginProfile", UserName=name, Password=password, PasswordResetRequired=reset)
        else:
            await caller.iam("CreateLoginProfile", UserName=name, Password=password, PasswordResetRequired=reset)
    except ServiceError as err:
        if err.denial is not None:
            raise
        return page.render("iam/console_access.html", status=400, name=name, profile=profile, url=user_url(name),
                           error=err.message)
    message = f"Console password set for {name}."
    if reset:
        message += await allow_password_change(caller, name)
    return show_password(page, name, password, message)


# -- MFA -------------------------------------------------------------------------------------------------


@routes.get("/iam/users/{name}/mfa/assign")
@routes.get("/iam/security-credentials/mfa/assign")
async def assign_mfa_form(page: Page) -> Response:
    who = target(page)
    return page.render("iam/mfa_assign.html", target=who, label=who.label(page), device=None, error=None,
                       root_device=ROOT_DEVICE if _is_root_self(page, who) else None)


def _is_root_self(page: Page, who: Target) -> bool:
    return who.name is None and page.principal is not None and page.principal.is_root


@routes.post("/iam/users/{name}/mfa/assign")
@routes.post("/iam/security-credentials/mfa/assign")
async def assign_mfa(page: Page) -> Response:
    """Step 1 (``step=create``) makes the virtual device and shows its QR code; step 2 (``step=enable``) sends
    two consecutive codes.  The seed and QR code travel between the two sealed to this session, never plain."""
    who, caller = target(page), page.caller
    root_device = ROOT_DEVICE if _is_root_self(page, who) else None
    context: dict[str, Any] = {"target": who, "label": who.label(page), "root_device": root_device}
    if page.field("step") != "enable":
        device_name = root_device or page.field("device_name").strip()
        try:
            created = await _create_device(caller, device_name)
        except ServiceError as err:
            if err.denial is not None:
                raise
            return page.render("iam/mfa_assign.html", status=400, device=None, error=err.message, **context)
        found = created["VirtualMFADevice"]
        device = {"serial": found["SerialNumber"], "seed": _text(found["Base32StringSeed"]),
                  "qr": base64.b64encode(_bytes(found["QRCodePNG"])).decode()}
        return page.render("iam/mfa_assign.html", device=device, sealed=_seal(page, device), error=None, **context)
    unsealed = _unseal(page)
    if unsealed is None:
        return page.redirect(who.base + "/mfa/assign")
    device = unsealed
    user_name = who.name or (page.principal.user_name if page.principal and page.principal.user_name else "root")
    try:
        await caller.iam("EnableMFADevice", UserName=user_name, SerialNumber=device["serial"],
                         AuthenticationCode1=page.field("code1").strip(),
                         AuthenticationCode2=page.field("code2").strip())
    except ServiceError as err:
        if err.denial is not None:
            raise
        return page.render("iam/mfa_assign.html", status=400, device=device, sealed=_seal(page, device),
                           error=err.message, **context)
    back = who.base + ("?tab=security" if who.name else "")
    return page.redirect(back, flash=f"MFA device assigned to {who.label(page)}.")


async def _create_device(caller: Caller, name: str) -> dict[str, Any]:
    """CreateVirtualMFADevice; root's device (one name: root could never try again) that no user has — made by an
    assignment left at its QR code: Cancel, the back button, a closed tab — is deleted and made anew, as AWS's
    console deletes it on Cancel.  An IAM user's device name is chosen: taken, it is IAM's error, as on AWS (an
    unassigned device of that name may be another enrolment's, in progress)."""
    try:
        return await caller.iam("CreateVirtualMFADevice", VirtualMFADeviceName=name)
    except ServiceError as err:
        if err.code != "EntityAlreadyExists" or name != ROOT_DEVICE:
            raise
        unassigned = await allowed(caller.iam("ListVirtualMFADevices", AssignmentStatus="Unassigned", MaxItems=1000))
        serial = next((d["SerialNumber"] for d in (unassigned or {}).get("VirtualMFADevices", [])
                       if d["SerialNumber"].split(":mfa/", 1)[-1] == name), None)
        if serial is None:
            raise
        await caller.iam("DeleteVirtualMFADevice", SerialNumber=serial)
        return await caller.iam("CreateVirtualMFADevice", VirtualMFADeviceName=name)


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def _bytes(value: Any) -> bytes:
    return value if isinstance(value, bytes) else base64.b64decode(str(value))


def _seal(page: Page, device: dict[str, str]) -> str:
    assert page.session is not None
    return page.console.sealer.seal({**device, "sid": page.session.sid}, "mfa-assign")


def _unseal(page: Page) -> dict[str, str] | None:
    found = page.console.sealer.open(page.field("sealed"), "mfa-assign")
    if found is None or page.session is None or found.get("sid") != page.session.sid:
        return None
    return {k: str(found[k]) for k in ("serial", "seed", "qr")}


@routes.post("/iam/users/{name}/mfa/remove")
@routes.post("/iam/security-credentials/mfa/remove")
async def remove_mfa(page: Page) -> Response:
    who, caller, serial = target(page), page.caller, page.field("serial")
    await caller.iam("DeactivateMFADevice", SerialNumber=serial, **who.params)
    await caller.iam("DeleteVirtualMFADevice", SerialNumber=serial)
    return page.redirect(who.base + ("?tab=security" if who.name else ""), flash="MFA device removed.")


# -- access keys ------------------------------------------------------------------------------------------


@routes.get("/iam/users/{name}/access-keys/create")
@routes.get("/iam/security-credentials/access-keys/create")
async def create_key_form(page: Page) -> Response:
    who = target(page)
    return page.render("iam/access_key_use.html", target=who, label=who.label(page), use_cases=USE_CASES,
                       chosen=page.field("use_case"), error=None)


@routes.post("/iam/users/{name}/access-keys/create")
@routes.post("/iam/security-credentials/access-keys/create")
async def create_key(page: Page) -> Response:
    """Step 1 (use case and the acknowledgement) → step 2 (description tag) → CreateAccessKey, then the
    secret goes to the retrieve page through a one-time note (POST → redirect → GET)."""
    who, caller = target(page), page.caller
    tagged_user = _tagged_user(page, who)
    created: dict[str, Any] | None = None
    use_case = page.field("use_case")
    context: dict[str, Any] = {"target": who, "label": who.label(page), "use_cases": USE_CASES,
                               "chosen": use_case}
    if page.field("step") != "create":
        if use_case not in {u[0] for u in USE_CASES}:
            return page.render("iam/access_key_use.html", status=400, error="Choose a use case.", **context)
        if page.field("understand") != "on":
            return page.render("iam/access_key_use.html", status=400, error="To proceed, confirm that you "
                               "understand the recommendation.", **context)
        if tagged_user is not None:  # root has no tags: AWS offers it no description step
            return page.render("iam/access_key_description.html", error=None, description="", **context)
    description = page.field("description").strip() if tagged_user is not None else ""
    if not valid_description(description):
        return page.render("iam/access_key_description.html", status=400, error=DESCRIPTION_RULE,
                           description=description, **context)
    try:
        created = (await caller.iam("CreateAccessKey", **who.params))["AccessKey"]
        if description and tagged_user is not None:  # AWS keeps the description as a user tag named by the key
            await _describe(caller, tagged_user, created["AccessKeyId"], description)
    except ServiceError as err:
        if err.denial is not None and created is None:
            raise
        if created is not None:  # not tagged (the user's 50 tags, say): no key left behind whose secret nobody saw
            await caller.iam("DeleteAccessKey", AccessKeyId=created["AccessKeyId"], **who.params)
        return page.render("iam/access_key_description.html", status=400, error=err.message,
                           description=description, **context)
    stash_once(page, "access-key", {"id": created["AccessKeyId"], "secret": created["SecretAccessKey"],
                                    "user": who.label(page)})
    return page.redirect(who.base + "/access-keys/retrieve")


# IAM's tag values (botocore's tagValueType, [\p{L}\p{Z}\p{N}_.:/=+\-@]*, at most 256), told as AWS's console does.
DESCRIPTION_RULE = ("The description can have up to 256 characters. Allowed characters are letters, numbers, "
                    "spaces representable in UTF-8, and: _ . : / = + - @")


def valid_description(text: str) -> bool:
    return len(text) <= 256 and all(c in "_.:/=+-@" or unicodedata.category(c)[0] in "LZN" for c in text)


def _tagged_user(page: Page, who: Target) -> str | None:
    """Whose tag a key's description is: the user's, or on "My security credentials" the signed-in IAM user's
    own (root has no tags)."""
    return who.name or (page.principal.user_name if page.principal is not None else None)


async def _describe(caller: Caller, name: str, key_id: str, description: str) -> None:
    await caller.iam("TagUser", UserName=name, Tags=[{"Key": key_id, "Value": description}])


@routes.get("/iam/users/{name}/access-keys/retrieve")
@routes.get("/iam/security-credentials/access-keys/retrieve")
async def retrieve_key(page: Page) -> Response:
    """"Retrieve access keys": the secret on this one page view only; a reload finds the note spent."""
    who = target(page)
    note = await take_once(page, "access-key")
    return page.render("iam/access_key_retrieve.html", target=who, label=who.label(page), note=note)


@routes.post("/iam/users/{name}/access-keys/{key_id}/status")
@routes.post("/iam/security-credentials/access-keys/{key_id}/status")
async def key_status(page: Page) -> Response:
    who, key_id = target(page), page.param("key_id")
    status = "Active" if page.field("status") == "Active" else "Inactive"
    await page.caller.iam("UpdateAccessKey", AccessKeyId=key_id, Status=status, **who.params)
    verb = "activated" if status == "Active" else "deactivated"
    back = who.base + f"/access-keys/{key_id}/delete" if page.field("then") == "delete" else \
        who.base + ("?tab=security" if who.name else "")
    return page.redirect(back, flash=f"Access key {key_id} {verb}.")


@routes.get("/iam/users/{name}/access-keys/{key_id}/deactivate")
@routes.get("/iam/security-credentials/access-keys/{key_id}/deactivate")
async def deactivate_key_form(page: Page) -> Response:
    """"Deactivate access key?": asked first, as AWS's console asks (a key in use stops working at once)."""
    return page.render("iam/access_key_deactivate.html", target=target(page), key_id=page.param("key_id"))


async def _is_active(page: Page, key_id: str) -> bool:
    """Whether the target's key ``key_id`` is active; NoSuchEntity (the "Not found" page) for a key it has not."""
    keys = (await page.caller.iam("ListAccessKeys", **target(page).params)).get("AccessKeyMetadata", [])
    found = [k for k in keys if k["AccessKeyId"] == key_id]
    if not found:
        raise ServiceError("NoSuchEntity", f"The Access Key with id {key_id} cannot be found.", 404)
    return bool(found[0]["Status"] == "Active")


@routes.get("/iam/users/{name}/access-keys/{key_id}/delete")
@routes.get("/iam/security-credentials/access-keys/{key_id}/delete")
async def delete_key_form(page: Page) -> Response:
    who, key_id = target(page), page.param("key_id")
    return page.render("iam/access_key_delete.html", target=who, key_id=key_id,
                       active=await _is_active(page, key_id), error=None)


@routes.post("/iam/users/{name}/access-keys/{key_id}/delete")
@routes.post("/iam/security-credentials/access-keys/{key_id}/delete")
async def delete_key(page: Page) -> Response:
    """As AWS's dialog asks: an active key is deactivated first, then its id typed to confirm."""
    who, key_id, caller = target(page), page.param("key_id"), page.caller
    active = await _is_active(page, key_id)
    if active or page.field("confirm").strip() != key_id:
        return page.render("iam/access_key_delete.html", status=400, target=who, key_id=key_id, active=active,
                           error="Deactivate the access key before you delete it." if active else
                           "The access key ID you typed does not match. Nothing was deleted.")
    await caller.iam("DeleteAccessKey", AccessKeyId=key_id, **who.params)
    tagged_user = _tagged_user(page, who)
    if tagged_user:  # its description, the user's tag named by the key id, goes with it
        tags = (await caller.iam("ListUserTags", UserName=tagged_user)).get("Tags", [])
        if any(t["Key"] == key_id for t in tags):
            await caller.iam("UntagUser", UserName=tagged_user, TagKeys=[key_id])
    return page.redirect(who.base + ("?tab=security" if who.name else ""), flash=f"Access key {key_id} deleted.")
