"""Virtual MFA devices (handlers for storeroom/iam/api.py; TOTP in storeroom/iam/totp.py, SQL in
storeroom/iam/login_store.py).

A device is created unassigned (CreateVirtualMFADevice answers its seed and QR code once: the seed is kept
sealed with the master key), then enabled for a user with two consecutive codes (EnableMFADevice), and from
then on asked for at sign-in.  Authorization as the Service Authorization Reference has it: the device's ARN
(``arn:aws:iam::<account>:mfa/<name>``) to create, tag or delete a device; the user's ARN to enable, resync,
deactivate or list a user's devices; ``*`` to list all virtual devices.

Root's device.  AWS enables root's MFA only in the console ("You cannot enable an MFA device for the AWS
account root user with the AWS CLI, AWS API ...": https://docs.aws.amazon.com/IAM/latest/UserGuide/
id_credentials_mfa_enable_cliapi.html); Storeroom's console is a client of this API, so the API does it
too, for root only: the device named ``root-account-mfa-device`` at path ``/`` (AWS's name for it,
``arn:aws:iam::<account>:mfa/root-account-mfa-device``) is root's.  Only root may create, enable, resync,
deactivate or delete it ("To manage MFA devices for the root user, you must be signed in as root"), and an
action on it is about root whatever ``UserName`` says; a root caller's ListMFADevices without ``UserName``
lists root's devices.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Sequence
from typing import Any

from storeroom.errors import AwsError
from storeroom.iam import login_store as store
from storeroom.iam import totp
from storeroom.iam.api import Handler, IamCall
from storeroom.iam.pagination import keyset_page, list_page
from storeroom.iam.user_store import (
    ROOT,
    TAGS_PER_USER,
    account_created,
    get_user_by_id,
    merged_tags,
    no_such_user,
    quota_exceeded,
    without_tags,
)
from storeroom.iam.users import _require_user, _root_arn, _tags_param, _user_out
from storeroom.policy.tags import request_tag_keys

HANDLERS: dict[str, Handler] = {}
Result = dict[str, Any] | None
ROOT_DEVICE = "root-account-mfa-device"
SERIAL_MAX = 256  # SerialNumber's length limit in EnableMFADevice & co: a longer one could never be used


def action(fn: Handler) -> Handler:
    HANDLERS[fn.__name__] = fn
    return fn


def _root_serial(call: IamCall) -> str:
    return call.arn("mfa", "/", ROOT_DEVICE)


def _is_root_serial(call: IamCall, serial: str | None) -> bool:
    return serial is not None and serial.lower() == _root_serial(call).lower()


def _root_only(call: IamCall, resource: str) -> None:
    if not call.caller.is_root:
        raise AwsError("AccessDenied", f"User: {call.caller.arn} is not authorized to perform: iam:{call.action} "
                       f"on resource: {resource} because only the root user can manage the root user's MFA "
                       f"device", 403)


async def _target(call: IamCall, serial: str | None) -> tuple[str, str]:
    """(principal, user name) whose devices an action is about: root for root's device (or a root caller
    without ``UserName``), else ``UserName``, else the calling user.  Authorizes on that user's ARN."""
    name = call.params.get("UserName")
    if _is_root_serial(call, serial) or (name is None and call.caller.is_root):
        _root_only(call, _root_arn(call))
        await call.require(_root_arn(call))
        return ROOT, "root"
    if name is not None:
        user = await _require_user(call, name)
        return user.user_id, user.name
    call.user_caller()
    await call.require(call.caller.arn)
    found = await get_user_by_id(call.db, call.caller.principal_id)
    if found is None:
        raise no_such_user(call.caller.user_name or call.caller.principal_id)
    return found.user_id, found.name


async def _device(call: IamCall, serial: str) -> store.MfaDevice:
    device = await store.get_device(call.db, serial)
    if device is None:
        raise store.no_such_device(serial)
    return device


def _seed(call: IamCall, device: store.MfaDevice) -> str:
    return call.iam.box.open(device.seed, device.serial)


async def _device_resource(call: IamCall, serial: str) -> None:
    """Authorize on the device's ARN; root's device is root's alone."""
    if _is_root_serial(call, serial):
        _root_only(call, serial)
    await call.require(serial)


async def _owner_out(call: IamCall, principal: str) -> dict[str, Any]:
    """The ``User`` of an assigned device: the IAM user, or for root its account-level identity."""
    if principal == ROOT:
        root: dict[str, Any] = {"UserId": call.account_id, "Arn": _root_arn(call),
                                "CreateDate": await account_created(call.db)}
        profile = await store.get_login_profile(call.db, ROOT)
        if profile is not None and profile.last_used is not None:
            root["PasswordLastUsed"] = profile.last_used
        return root
    user = await get_user_by_id(call.db, principal)
    return {} if user is None else await _user_out(call, user)


def _tags_out(tags: Sequence[tuple[str, str]]) -> list[dict[str, str]] | None:
    return [{"Key": k, "Value": v} for k, v in tags] or None


# -- devices -------------------------------------------------------------------------------------------------


@action
async def CreateVirtualMFADevice(call: IamCall) -> Result:
    """The seed and QR code are returned here and never again."""
    p = call.params
    path, name = p.get("Path", "/"), p["VirtualMFADeviceName"]
    serial = call.arn("mfa", path, name)
    if len(serial) > SERIAL_MAX:  # the model bounds the name by nothing; every other MFA action the serial
        raise AwsError("ValidationError", "1 validation error detected: Value at 'serialNumber' failed to satisfy "
                       f"constraint: Member must have length less than or equal to {SERIAL_MAX}", 400)
    tags = _tags_param(call)
    await _device_resource(call, serial)
    if tags:  # tagging on creation also takes iam:TagMFADevice, as for users
        await call.require(serial, "iam:TagMFADevice", request_tag_keys(tags))
    seed, now = totp.new_seed(), time.time()
    account_name = call.caller.user_name or call.account_id  # "the user name if set (otherwise, the account ID)"
    png = await asyncio.to_thread(totp.qr_png, totp.otpauth_uri(name, account_name, seed))
    device = store.MfaDevice(serial, path, name, call.iam.box.seal(seed, serial), now, None, None, 0, 0, tags)
    await call.write(lambda conn: store.create_device_job(conn, device))
    return {"VirtualMFADevice": {"SerialNumber": serial, "Base32StringSeed": seed.encode(), "QRCodePNG": png,
                                 "Tags": _tags_out(tags)}}


@action
async def EnableMFADevice(call: IamCall) -> Result:
    """Two consecutive codes (https://docs.aws.amazon.com/IAM/latest/APIReference/API_EnableMFADevice.html)."""
    p = call.params
    principal, name = await _target(call, p["SerialNumber"])
    device = await _device(call, p["SerialNumber"])
    if device.principal is not None:
        raise AwsError("EntityAlreadyExists", "MFA Device is already in use.", 409)
    now = time.time()
    step = totp.match_consecutive(_seed(call, device), p["AuthenticationCode1"], p["AuthenticationCode2"], now,
                                  after=device.last_step)
    if step is None:
        raise store.invalid_code()
    await call.write(lambda conn: store.enable_device_job(conn, device.serial, principal, name, now, step))
    return None


@action
async def ResyncMFADevice(call: IamCall) -> Result:
    """Two consecutive codes up to ten minutes off: the offset found is the device's drift from now on."""
    p = call.params
    principal, _ = await _target(call, p["SerialNumber"])
    device = await _device(call, p["SerialNumber"])
    if device.principal != principal:
        raise store.no_such_device(p["SerialNumber"])
    now = time.time()
    step = totp.match_consecutive(_seed(call, device), p["AuthenticationCode1"], p["AuthenticationCode2"], now,
                                  resync=True, after=device.last_step)
    if step is None:
        raise store.invalid_code()
    drift = step - totp.step_at(now)
    await call.write(lambda conn: store.resync_device_job(conn, device.serial, principal, step, drift))
    return None


@action
async def DeactivateMFADevice(call: IamCall) -> Result:
    serial: str = call.params["SerialNumber"]
    principal, _ = await _target(call, serial)
    await call.write(lambda conn: store.deactivate_device_job(conn, serial, principal))
    return None


@action
async def DeleteVirtualMFADevice(call: IamCall) -> Result:
    """DeleteConflict while the device is enabled for someone (DeactivateMFADevice first)."""
    serial: str = call.params["SerialNumber"]
    await _device_resource(call, serial)
    await call.write(lambda conn: store.delete_device_job(conn, serial))
    return None


def _mfa_device_out(call: IamCall, device: store.MfaDevice, user_name: str) -> dict[str, Any]:
    return {"UserName": user_name, "SerialNumber": device.serial, "EnableDate": device.enabled}


@action
async def ListMFADevices(call: IamCall) -> Result:
    principal, name = await _target(call, None)
    devices, page = list_page(call, await store.devices_of(call.db, principal), lambda d: [d.serial])
    return {"MFADevices": [_mfa_device_out(call, d, name) for d in devices], **page}


@action
async def GetMFADevice(call: IamCall) -> Result:
    serial: str = call.params["SerialNumber"]
    principal, name = await _target(call, serial)
    device = await store.get_device(call.db, serial)
    if device is None or device.principal != principal:
        raise AwsError("NoSuchEntity", f"MFA Device with serial number {serial} does not exist.", 404)
    return _mfa_device_out(call, device, name)


@action
async def ListVirtualMFADevices(call: IamCall) -> Result:
    await call.require("*")
    status = call.params.get("AssignmentStatus", "Any")
    devices, page = await keyset_page(call, lambda after, n: store.list_devices(call.db, status, after, n),
                                      lambda d: d.serial)
    out = []
    for d in devices:
        entry: dict[str, Any] = {"SerialNumber": d.serial}  # no Tags: the listing "does not return tags"
        if d.principal is not None:
            entry["User"] = await _owner_out(call, d.principal)
            entry["EnableDate"] = d.enabled
        out.append(entry)
    return {"VirtualMFADevices": out, **page}


# -- device tags ---------------------------------------------------------------------------------------------


@action
async def TagMFADevice(call: IamCall) -> Result:
    serial: str = call.params["SerialNumber"]
    tags = _tags_param(call)
    await _device_resource(call, serial)
    device = await _device(call, serial)
    merged = merged_tags(device.tags, tags)
    if len(merged) > TAGS_PER_USER:
        raise quota_exceeded("TagsPerMFADevice", TAGS_PER_USER)
    await call.write(lambda conn: store.set_device_tags_job(conn, device.serial, merged))
    return None


@action
async def UntagMFADevice(call: IamCall) -> Result:
    serial: str = call.params["SerialNumber"]
    keys: list[str] = call.params["TagKeys"]
    await _device_resource(call, serial)
    device = await _device(call, serial)
    remaining = without_tags(device.tags, keys)
    await call.write(lambda conn: store.set_device_tags_job(conn, device.serial, remaining))
    return None


@action
async def ListMFADeviceTags(call: IamCall) -> Result:
    serial: str = call.params["SerialNumber"]
    await _device_resource(call, serial)
    device = await _device(call, serial)
    tags, page = list_page(call, device.tags, lambda t: [t[0].lower()])
    return {"Tags": [{"Key": k, "Value": v} for k, v in tags], **page}
