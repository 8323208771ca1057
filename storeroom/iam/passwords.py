"""Console passwords: Argon2id hashing and the account password policy (sans-IO: strings in, verdicts out).

Passwords are never stored: only their Argon2id hash (PHC string, salt included).  The parameters are OWASP's
recommended minimum for Argon2id (19 MiB, 2 iterations, 1 lane: https://cheatsheetseries.owasp.org/cheatsheets/
Password_Storage_Cheat_Sheet.html#argon2id), chosen over argon2-cffi's 64 MiB default because a sign-in
endpoint hashes on request and the reference machine has 2 cores; :func:`needs_rehash` upgrades old hashes
at the next successful sign-in if the parameters are raised.

The password policy follows IAM's (https://docs.aws.amazon.com/IAM/latest/UserGuide/
id_credentials_passwords_account-policy.html): without a custom policy, "the default AWS password policy" —
at least 8 characters, a mix of at least three of uppercase letters, lowercase letters, numbers and
symbols, and not identical to the account name or email address.  With one, its rules exactly.  "The IAM
password policy does not apply to the AWS account root user password."
"""

from __future__ import annotations

import functools
import json
import secrets
import string
import threading
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass
from typing import Any

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

from storeroom.errors import AwsError

_HASHER = PasswordHasher(time_cost=2, memory_cost=19 * 1024, parallelism=1)

# "Require at least one non-alphanumeric character: ! @ # $ % ^ & * ( ) _ + - = [ ] { } | '"
SYMBOLS = "!@#$%^&*()_+-=[]{}|'"
DAY = 86400.0


# Each Argon2 computation holds 19 MiB and a core for tens of milliseconds: a burst of sign-ins (or of
# CreateLoginProfile calls) waits its turn instead of exhausting memory.  Callers run these in threads.
_SLOTS = threading.BoundedSemaphore(4)


def hash_password(password: str) -> str:
    with _SLOTS:
        return _HASHER.hash(password)


def verify_password(hashed: str, password: str) -> bool:
    """Constant-time as Argon2 is; a damaged hash counts as a mismatch."""
    try:
        with _SLOTS:
            return _HASHER.verify(hashed, password)
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False


def needs_rehash(hashed: str) -> bool:
    try:
        return _HASHER.check_needs_rehash(hashed)
    except InvalidHashError:
        return True


@functools.cache
def _dummy_hash() -> str:
    return hash_password(secrets.token_urlsafe(16))


def burn_verification(password: str) -> None:
    """Spend the time of one verification: an unknown user must not answer faster than a wrong password."""
    verify_password(_dummy_hash(), password)


@dataclass(frozen=True, slots=True)
class PasswordPolicy:
    """The account password policy, as UpdateAccountPasswordPolicy sets it.

    https://docs.aws.amazon.com/IAM/latest/APIReference/API_UpdateAccountPasswordPolicy.html: "This operation
    does not support partial updates. No parameters are required, but if you do not specify a parameter,
    that parameter's value reverts to its default value" (6 characters, nothing required, no expiry).
    """

    minimum_length: int = 6
    require_symbols: bool = False
    require_numbers: bool = False
    require_uppercase: bool = False
    require_lowercase: bool = False
    allow_users_to_change: bool = False
    max_age_days: int | None = None
    reuse_prevention: int | None = None
    hard_expiry: bool | None = None  # None: not set, and not named in the answer (AWS-recorded)

    @classmethod
    def from_params(cls, p: Mapping[str, Any]) -> PasswordPolicy:
        return cls(
            minimum_length=int(p.get("MinimumPasswordLength", 6)),
            require_symbols=bool(p.get("RequireSymbols", False)),
            require_numbers=bool(p.get("RequireNumbers", False)),
            require_uppercase=bool(p.get("RequireUppercaseCharacters", False)),
            require_lowercase=bool(p.get("RequireLowercaseCharacters", False)),
            allow_users_to_change=bool(p.get("AllowUsersToChangePassword", False)),
            max_age_days=p.get("MaxPasswordAge"),
            reuse_prevention=p.get("PasswordReusePrevention"),
            hard_expiry=None if "HardExpiry" not in p else bool(p["HardExpiry"]),
        )

    def shape(self) -> dict[str, Any]:
        """The ``PasswordPolicy`` output shape; MaxPasswordAge / PasswordReusePrevention only when set."""
        out: dict[str, Any] = {
            "MinimumPasswordLength": self.minimum_length, "RequireSymbols": self.require_symbols,
            "RequireNumbers": self.require_numbers, "RequireUppercaseCharacters": self.require_uppercase,
            "RequireLowercaseCharacters": self.require_lowercase,
            "AllowUsersToChangePassword": self.allow_users_to_change,
            "ExpirePasswords": bool(self.max_age_days),
        }
        if self.max_age_days:
            out["MaxPasswordAge"] = self.max_age_days
        if self.reuse_prevention:
            out["PasswordReusePrevention"] = self.reuse_prevention
        if self.hard_expiry is not None:
            out["HardExpiry"] = self.hard_expiry
        return out

    def to_json(self) -> str:
        return json.dumps(asdict(self), separators=(",", ":"))

    @classmethod
    def from_json(cls, text: str) -> PasswordPolicy:
        return cls(**json.loads(text))


def _classes(password: str) -> dict[str, bool]:
    return {
        "uppercase": any("A" <= c <= "Z" for c in password),
        "lowercase": any("a" <= c <= "z" for c in password),
        "number": any(c.isascii() and c.isdigit() for c in password),
        "symbol": any(c in SYMBOLS for c in password),
    }


def violations(policy: PasswordPolicy | None, password: str, names: Iterable[str] = ()) -> list[str]:
    """What ``password`` lacks, in words a console can show (empty when it conforms).  ``names`` are the
    account id, alias and root email: the default policy refuses a password identical to one of them."""
    found = _classes(password)
    problems: list[str] = []
    if policy is None:
        if len(password) < 8:
            problems.append("Password must be at least 8 characters long.")
        if sum(found.values()) < 3:
            problems.append("Password must contain at least three of: uppercase letters, lowercase letters, "
                            "numbers, and symbols (" + " ".join(SYMBOLS) + ").")
        if any(password.lower() == n.lower() for n in names if n):
            problems.append("Password must not be identical to the account name or email address.")
        return problems
    if len(password) < policy.minimum_length:
        problems.append(f"Password must be at least {policy.minimum_length} characters long.")
    for flag, kind, words in ((policy.require_uppercase, "uppercase", "uppercase letter (A-Z)"),
                              (policy.require_lowercase, "lowercase", "lowercase letter (a-z)"),
                              (policy.require_numbers, "number", "number (0-9)"),
                              (policy.require_symbols, "symbol", "symbol (" + " ".join(SYMBOLS) + ")")):
        if flag and not found[kind]:
            problems.append(f"Password must contain at least one {words}.")
    return problems


def policy_violation() -> AwsError:
    # IAM's message for any password the policy refuses (PasswordPolicyViolation, 400)
    return AwsError("PasswordPolicyViolation", "Password does not conform to the account password policy.", 400)


def check(policy: PasswordPolicy | None, password: str, names: Iterable[str] = ()) -> None:
    if violations(policy, password, names):
        raise policy_violation()


def reused(policy: PasswordPolicy | None, password: str, previous_hashes: list[str]) -> bool:
    """Whether ``password`` is one of the last ``PasswordReusePrevention`` passwords (newest first, the
    current one included).  Each comparison is an Argon2 verification: run off the event loop."""
    if policy is None or not policy.reuse_prevention:
        return False
    return any(verify_password(h, password) for h in previous_hashes[:policy.reuse_prevention])


def expires_at(policy: PasswordPolicy | None, changed: float) -> float | None:
    """When a password set at ``changed`` expires ("the expiration period is enforced immediately")."""
    if policy is None or not policy.max_age_days:
        return None
    return changed + policy.max_age_days * DAY


def generate(length: int = 20) -> str:
    """A random password with every character class, so that it passes any policy of ≤ ``length``."""
    alphabet = string.ascii_letters + string.digits + SYMBOLS
    while True:
        password = "".join(secrets.choice(alphabet) for _ in range(length))
        if all(_classes(password).values()):
            return password
