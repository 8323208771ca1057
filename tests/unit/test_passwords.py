"""Password hashing and the account password policy (storeroom/iam/passwords.py)."""

from __future__ import annotations

import pytest

from storeroom.errors import AwsError
from storeroom.iam import passwords
from storeroom.iam.passwords import PasswordPolicy


def test_hash_is_argon2id_salted_and_verifies() -> None:
    one, two = passwords.hash_password("Corr3ct-Horse"), passwords.hash_password("Corr3ct-Horse")
    assert one.startswith("$argon2id$") and one != two and "Corr3ct" not in one
    assert passwords.verify_password(one, "Corr3ct-Horse")
    assert not passwords.verify_password(one, "corr3ct-Horse")
    assert not passwords.verify_password("not a hash", "Corr3ct-Horse")
    assert not passwords.needs_rehash(one)


def test_default_policy_without_a_custom_one() -> None:
    """AWS's default: ≥ 8 characters, three of four kinds, not the account name or email."""
    assert passwords.violations(None, "Abcdef1!") == []
    assert passwords.violations(None, "abcdefg1A") == []
    assert passwords.violations(None, "Abc1!") != []                # too short
    assert passwords.violations(None, "abcdefgh12") != []           # two kinds
    assert passwords.violations(None, "Root@Localhost1", ["root@localhost1"]) != []


def test_custom_policy_rules() -> None:
    policy = PasswordPolicy(minimum_length=10, require_symbols=True, require_numbers=True,
                            require_uppercase=True, require_lowercase=True)
    assert passwords.violations(policy, "Abcdefgh1!") == []
    assert len(passwords.violations(policy, "abc")) == 4            # short, no upper, no number, no symbol
    assert passwords.violations(policy, "ABCDEFGH1!") == ["Password must contain at least one lowercase letter (a-z)."]
    assert passwords.violations(PasswordPolicy(), "abcdef") == []   # the custom default: 6 characters, any
    with pytest.raises(AwsError) as exc:
        passwords.check(policy, "abc")
    assert (exc.value.code, exc.value.status) == ("PasswordPolicyViolation", 400)
    assert exc.value.message == "Password does not conform to the account password policy."


def test_update_is_not_partial_and_shape_is_aws() -> None:
    policy = PasswordPolicy.from_params({"MinimumPasswordLength": 12, "MaxPasswordAge": 90,
                                         "PasswordReusePrevention": 3})
    assert policy == PasswordPolicy(minimum_length=12, max_age_days=90, reuse_prevention=3)
    assert PasswordPolicy.from_json(policy.to_json()) == policy
    assert policy.shape() == {
        "MinimumPasswordLength": 12, "RequireSymbols": False, "RequireNumbers": False,
        "RequireUppercaseCharacters": False, "RequireLowercaseCharacters": False,
        "AllowUsersToChangePassword": False, "ExpirePasswords": True, "MaxPasswordAge": 90,
        "PasswordReusePrevention": 3}  # no HardExpiry when it was not set (AWS-recorded)
    assert "MaxPasswordAge" not in PasswordPolicy().shape()
    assert PasswordPolicy.from_params({"HardExpiry": False}).shape()["HardExpiry"] is False
    assert passwords.expires_at(policy, 1000.0) == 1000.0 + 90 * 86400
    assert passwords.expires_at(PasswordPolicy(), 1000.0) is None and passwords.expires_at(None, 1.0) is None


def test_reuse_prevention_counts_the_last_n() -> None:
    history = [passwords.hash_password(p) for p in ("Newest-1", "Older-2", "Oldest-3")]
    assert passwords.reused(PasswordPolicy(reuse_prevention=2), "Older-2", history)
    assert not passwords.reused(PasswordPolicy(reuse_prevention=2), "Oldest-3", history)
    assert not passwords.reused(PasswordPolicy(), "Newest-1", history)


def test_generated_passwords_pass_the_strictest_policy() -> None:
    strict = PasswordPolicy(minimum_length=20, require_symbols=True, require_numbers=True, require_uppercase=True,
                            require_lowercase=True)
    for _ in range(20):
        assert passwords.violations(strict, passwords.generate()) == []
