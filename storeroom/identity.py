"""Who is calling: the account, its root identity, and access-key → principal resolution.

The credential cache maps an access key id to (secret, principal).  It is checked against the IAM generation
counter in the metadata store (bumped by every change to keys, users or policies), so that a key disabled or
deleted through one worker process is refused by every worker at its very next request.
"""

from __future__ import annotations

import csv
import io
import os
import secrets
import string
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from storeroom.crypto import SecretBox
from storeroom.sessions import ROLE, Session, SessionTokens, assumed_role_arn, merged_tags
from storeroom.sessions import ROOT as ROOT_SESSION
from storeroom.store.generation import GenerationCache
from storeroom.store.meta import AccessKey, MetaStore

ROOT = "root"


def _last_used_interval() -> float:
    try:
        value = float(os.environ.get("STOREROOM_LAST_USED_INTERVAL", "60"))
    except ValueError:
        return 60.0
    return value if value > 0 else 60.0


# Seconds between two records of one key's use by one worker (GetAccessKeyLastUsed); AWS itself reports last use
# with a delay of hours.  Shorter lets `storeroom keys rotate --settle` finish sooner, for a write per key that often.
LAST_USED_GRANULARITY = _last_used_interval()
_KEY_ALPHABET = string.ascii_uppercase + "234567"  # AWS access key ids use base32 characters
_SECRET_ALPHABET = string.ascii_letters + string.digits + "+/"


@dataclass(frozen=True, slots=True)
class Principal:
    """The caller, in CloudTrail's ``userIdentity`` terms."""

    type: str               # "Root", "IAMUser", "AssumedRole" (anonymous uses type "Anonymous")
    account_id: str
    arn: str                # a role session's is arn:aws:sts::<account>:assumed-role/<role>/<session>
    principal_id: str       # the account id for root, the user id (AIDA…) for a user, AROA…:<session> for a role
    user_name: str | None = None
    access_key_id: str | None = None
    tags: tuple[tuple[str, str], ...] = ()   # an IAM user's tags, a role session's role + session tags
    session: Session | None = None           # temporary credentials: what their token says (storeroom/sessions.py)
    issuer_arn: str | None = None            # a role session's role ARN (aws:PrincipalArn, sessionIssuer)
    # a console session's sign-in (when, with MFA or not): its requests' audit records carry it, as CloudTrail's
    # records of console actions do (sessionContext, sessionCredentialFromConsole); authorization never reads it
    console_signin: tuple[float, bool] | None = None

    @property
    def is_root(self) -> bool:
        return self.type == "Root"

    @property
    def is_anonymous(self) -> bool:
        return self.type == "Anonymous"

    @property
    def is_role_session(self) -> bool:
        return self.type == "AssumedRole"

    @property
    def user_id(self) -> str | None:
        """An IAM user's unique id (AIDA…), by which stored trust and bucket policies name it."""
        return self.principal_id if self.type == "IAMUser" else None

    @property
    def role_id(self) -> str | None:
        """A role session's role's unique id (AROA…), by which stored trust and bucket policies name the role."""
        return self.principal_id.partition(":")[0] if self.type == "AssumedRole" else None

    @property
    def principal_arn(self) -> str:
        """aws:PrincipalArn: the role's ARN for a role session, the caller's own ARN otherwise."""
        return self.issuer_arn or self.arn


def anonymous(account_id: str) -> Principal:
    return Principal("Anonymous", account_id, "*", "anonymous")


def new_access_key_id(prefix: str = "AKIA") -> str:
    return prefix + "".join(secrets.choice(_KEY_ALPHABET) for _ in range(16))


def new_secret_access_key() -> str:
    return "".join(secrets.choice(_SECRET_ALPHABET) for _ in range(40))


async def ensure_account(meta: MetaStore, box: SecretBox, data_dir: Path) -> str:
    """Creates the account on first start (id + root keys); returns the account id.

    Root keys come from ``STOREROOM_ROOT_ACCESS_KEY_ID`` / ``STOREROOM_ROOT_SECRET_ACCESS_KEY`` when set (and
    replace the stored ones), otherwise they are generated once, printed once and saved to
    ``DATA_DIR/root-credentials.csv`` (mode 0600) in the AWS console's CSV format.  Safe when several nodes
    start at once on one metadata database: each step is one transaction that keeps what another node stored
    first (the account id, the generated root key), so every node ends with the same account.
    """
    new_id = secrets.choice("123456789") + "".join(secrets.choice(string.digits) for _ in range(11))
    account_id = await meta.set_kv("account_id", new_id, only_if_absent=True)
    env_id = os.environ.get("STOREROOM_ROOT_ACCESS_KEY_ID")
    env_secret = os.environ.get("STOREROOM_ROOT_SECRET_ACCESS_KEY")
    if env_id and env_secret:
        def holds(key: AccessKey) -> bool:
            return key.access_key_id == env_id and box.open(key.secret, key.access_key_id) == env_secret
        await meta.replace_root_keys(_root_key(box, env_id, env_secret), holds)
        return account_id
    if await meta.access_keys_of(ROOT):
        return account_id
    key_id, secret = new_access_key_id(), new_secret_access_key()
    if not await meta.add_root_key_if_none(_root_key(box, key_id, secret)):
        return account_id  # another node made root's key first: it printed and saved it
    path = data_dir / "root-credentials.csv"
    saved = write_secret_file(path, credentials_csv(key_id, secret))
    print(
        f"Storeroom: created account {account_id}. Root credentials (shown once, {saved}):\n"
        f"  AWS_ACCESS_KEY_ID={key_id}\n  AWS_SECRET_ACCESS_KEY={secret}",
        file=sys.stderr,
        flush=True,
    )
    return account_id


def _root_key(box: SecretBox, key_id: str, secret: str) -> AccessKey:
    return AccessKey(key_id, box.seal(secret, key_id), ROOT, "Active", time.time())


def credentials_csv(key_id: str, secret: str) -> str:
    """AWS's access key CSV: header ``Access key ID,Secret access key`` and one row."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(["Access key ID", "Secret access key"])
    writer.writerow([key_id, secret])
    return out.getvalue()


def write_secret_file(path: Path, text: str) -> str:
    """Saves a secret shown once (0600, durable) and says where — or why not: the secret is already stored, so a
    file that cannot be written (a full disk, a link planted where it goes) must not cost the one showing of it.
    O_NOFOLLOW: never written through a link into someone else's file."""
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW, 0o600)
        os.fchmod(fd, 0o600)  # an existing file keeps its mode through O_CREAT: make sure
        with os.fdopen(fd, "w") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
    except OSError as exc:
        return f"NOT saved to {path}: {exc.strerror}; copy it now"
    return f"also saved to {path}"


class CredentialResolver:
    """access key id → (secret, principal), cached per process, invalidated by the IAM generation; temporary
    credentials (``ASIA…`` + a session token) through :meth:`resolve_temporary`."""

    def __init__(self, meta: MetaStore, box: SecretBox, account_id: str, tokens: SessionTokens | None = None) -> None:
        self.meta = meta
        self.box = box
        self.account_id = account_id
        self.tokens = tokens
        self._credentials = GenerationCache(meta.iam_generation, self._load)
        self._last_noted: dict[str, float] = {}
        # temporary access key id → (principal, the session's condition keys without a clock), for the current
        # IAM generation (a session names a role or user whose tags or very existence may change)
        self._sessions: dict[str, tuple[Principal, dict[str, tuple[str, ...]]] | None] = {}
        self._sessions_generation = -1

    async def resolve(self, access_key_id: str) -> tuple[str, Principal] | None:
        """None when the key does not exist or is inactive (S3 answers InvalidAccessKeyId for both)."""
        found = await self._credentials.get(access_key_id)
        return found[0] if found is not None and found[1] else None

    def cached(self, access_key_id: str) -> tuple[str, Principal] | None:
        """What :meth:`resolve` found for this key lately, without asking the store (None when not known) — also
        for an inactive key: a refused request's audit event names the owner of the key it was made with."""
        found = self._credentials.peek(access_key_id, None)
        return None if found is None else found[0]

    async def _load(self, access_key_id: str) -> tuple[tuple[str, Principal], bool] | None:
        """((secret, principal), is the key active?) of a key of the account; an inactive key's secret is not
        opened (kept as "": it signs nothing)."""
        key = await self.meta.get_access_key(access_key_id)
        if key is None:
            return None
        active = key.status == "Active"
        pair = await self._owner(key, active)
        return None if pair is None else (pair, active)

    async def _owner(self, key: AccessKey, with_secret: bool) -> tuple[str, Principal] | None:
        access_key_id = key.access_key_id
        secret = self.box.open(key.secret, key.access_key_id) if with_secret else ""
        if key.principal == ROOT:
            principal = Principal(
                "Root", self.account_id, f"arn:aws:iam::{self.account_id}:root", self.account_id,
                None, access_key_id,
            )
            return secret, principal
        user = await self.meta.iam_user_identity(key.principal)
        if user is None:
            return None
        name, path, tags = user
        principal = Principal("IAMUser", self.account_id, f"arn:aws:iam::{self.account_id}:user{path}{name}",
                              key.principal, name, access_key_id, tuple(tags))
        return secret, principal

    async def resolve_temporary(self, access_key_id: str, token: str,
                                now: float) -> tuple[str, Principal, dict[str, tuple[str, ...]]] | None:
        """(secret, principal, the session's condition keys) of temporary credentials; None when what the
        session names (its role, its user) is gone.  ``InvalidToken`` for a token that is not ours."""
        assert self.tokens is not None
        secret, session = self.tokens.open(access_key_id, token)
        generation = self.meta.iam_generation()
        if generation != self._sessions_generation:
            self._sessions.clear()
            self._sessions_generation = generation
        try:
            found = self._sessions[access_key_id]
        except KeyError:
            principal = await self._session_principal(session, access_key_id)
            found = None if principal is None else (principal, session.condition_keys(now))
            if self._sessions_generation == generation:
                if len(self._sessions) >= 10_000:
                    self._sessions.clear()
                self._sessions[access_key_id] = found
        if found is None:
            return None
        principal, keys = found
        if session.mfa is not None:  # aws:MultiFactorAuthAge moves with the clock
            keys = {**keys, "aws:multifactorauthage": (str(max(0, int(now - session.mfa))),)}
        return secret, principal, keys

    async def _session_principal(self, session: Session, access_key_id: str) -> Principal | None:
        account = self.account_id
        if session.kind == ROLE:
            from storeroom.iam.role_store import get_role_by_id

            role = await get_role_by_id(self.meta.db.read, session.principal_id)
            if role is None:
                return None
            return Principal("AssumedRole", account, assumed_role_arn(account, role.name, session.name),
                             f"{role.role_id}:{session.name}", None, access_key_id,
                             merged_tags(role.tags, session.tags), session,
                             f"arn:aws:iam::{account}:role{role.path}{role.name}")
        if session.kind == ROOT_SESSION:
            if session.principal_id != account:
                return None
            return Principal("Root", account, f"arn:aws:iam::{account}:root", account, None, access_key_id,
                             session=session)
        user = await self.meta.iam_user_identity(session.principal_id)
        if user is None:
            return None
        name, path, tags = user
        return Principal("IAMUser", account, f"arn:aws:iam::{account}:user{path}{name}", session.principal_id,
                         name, access_key_id, tuple(tags), session)

    def note_used(self, access_key_id: str, service: str, region: str) -> None:
        """Keeps GetAccessKeyLastUsed current: at most one write per key per minute per process."""
        now = time.time()
        if now - self._last_noted.get(access_key_id, 0.0) < LAST_USED_GRANULARITY:
            return
        if len(self._last_noted) > 10_000:
            self._last_noted.clear()
        self._last_noted[access_key_id] = now
        self.meta.note_key_used(access_key_id, now, service, region)


async def check_master_key(meta: MetaStore, box: SecretBox) -> bool:
    """Whether ``box`` holds the master key the store's secrets were sealed with.  The first start records a
    keyed digest of it (never the key); several nodes sharing one database must share the key, and a node
    started with another one would answer every signed request InvalidAccessKeyId — so it refuses to start."""
    mine = box.fingerprint()
    # during a rotation (storeroom master-key rotate) the store may already record the next key's
    return await meta.set_kv("master_key_fingerprint", mine, only_if_absent=True) in box.fingerprints()
