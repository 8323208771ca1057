"""Users and roles named in trust policies and bucket policies are stored by their unique ids, as AWS does.

"When you save the policy, AWS transforms the ARN to a unique principal ID. This helps mitigate the risk of
someone escalating their privileges by removing and recreating the role or user … if you delete the role or
user, then the relationship is broken" (https://docs.aws.amazon.com/IAM/latest/UserGuide/
reference_policies_elements_principal.html).  So:

- **saving** (CreateRole, UpdateAssumeRolePolicy, PutBucketPolicy: :func:`to_ids`): every ``AWS`` principal of
  a Principal or NotPrincipal element that is ``arn:aws:iam::<this account>:user/…`` or ``…:role/…`` is replaced,
  in the stored text, by that user's AIDA… or role's AROA… id (path and name must name an existing one, else
  :class:`UnknownPrincipal`: a wildcard names none).  Everything else (account roots, account ids, ``*``, other
  accounts, services, federated providers, assumed-role session ARNs) is stored as written;
- **evaluating**: the stored text is what is compiled, and storeroom/policy/evaluate.py names an IAM user by
  its unique id and a role session's role by the role's (``AuthRequest.user_id`` / ``role_id``), never by ARN.
  A user or role deleted and made again under the same name has a new id: the policy no longer applies to it;
  a renamed user keeps its id, and the grant;
- **reading back** (GetRole, ListRoles, instance profiles, GetAccountAuthorizationDetails, GetBucketPolicy:
  :func:`shown`): each id is shown as its user's or role's current ARN, or left bare once the user or role is
  gone ("the principal ID shows up because AWS can no longer map it back to an ARN").

Only the text of the principals changes (found by walking the JSON with their offsets): the rest of a document
reads back as it was written.  Policies stored by an earlier Storeroom, which kept the ARNs, are converted once
at start-up (:func:`migrate`); an ARN whose user or role did not exist then is kept as written and names nobody.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence

from storeroom.store import generation
from storeroom.store.sql import Conn, Database

# kv flag: the stored policies name users and roles by id (set by the first start of this version)
MIGRATED = "principal_ids"
_WHITESPACE = re.compile(r"[ \t\n\r]*")
_DECODER = json.JSONDecoder()
# storeroom/iam/api.py:new_id (AIDA user, AROA role + 17 characters of its alphabet)
_ID = re.compile(r"A(?:IDA|ROA)[A-Z2-7]{17}")
_QUOTED_ID = re.compile(r'"A(?:IDA|ROA)[A-Z2-7]{17}"')
_PRINCIPAL_PATHS = (("Principal", "AWS"), ("NotPrincipal", "AWS"))


class UnknownPrincipal(Exception):
    """A principal naming a user or role of this account that does not exist (or a wildcard in such an ARN)."""

    def __init__(self, name: str) -> None:
        super().__init__(name)
        self.name = name


def principal_spans(text: str) -> list[tuple[int, int, str]]:
    """(start, end, value) of every string of a policy's JSON text that is an ``AWS`` principal of a Principal
    or NotPrincipal element (one string or a list of them).  ``text`` is valid JSON (validated before)."""
    found: list[tuple[int, int, str]] = []

    def skip(i: int) -> int:
        match = _WHITESPACE.match(text, i)
        assert match is not None
        return match.end()

    def value(i: int, keys: tuple[str, ...]) -> int:
        i = skip(i)
        if text[i] == "{":
            i = skip(i + 1)
            if text[i] == "}":
                return i + 1
            while True:
                key, i = _DECODER.raw_decode(text, i)
                i = value(skip(i) + 1, (*keys[-1:], str(key)))  # past ":"
                i = skip(i)
                if text[i] == "}":
                    return i + 1
                i = skip(i + 1)  # past ","
        if text[i] == "[":
            i = skip(i + 1)
            if text[i] == "]":
                return i + 1
            while True:
                i = skip(value(i, keys))
                if text[i] == "]":
                    return i + 1
                i += 1
        start = i
        item, i = _DECODER.raw_decode(text, i)
        if isinstance(item, str) and keys in _PRINCIPAL_PATHS:
            found.append((start, i, item))
        return i

    value(0, ())
    return found


def _replaced(text: str, replacements: Sequence[tuple[int, int, str]]) -> str:
    out: list[str] = []
    at = 0
    for start, end, value in replacements:
        out += (text[at:start], json.dumps(value))
        at = end
    out.append(text[at:])
    return "".join(out)


def _own_entity(account_id: str, arn: str) -> tuple[str, str, str] | None:
    """(kind "user" | "role", path, name) of an ARN naming a user or role of this account, else None."""
    prefix = f"arn:aws:iam::{account_id}:"
    if not arn.startswith(prefix):
        return None
    kind, slash, rest = arn[len(prefix):].partition("/")
    if kind not in ("user", "role") or not slash:
        return None
    folders, _, name = rest.rpartition("/")
    return kind, f"/{folders}/" if folders else "/", name


_ENTITY_NAME = re.compile(r"[\w+=,.@-]{1,128}", re.ASCII)  # a user's or role's name (the model's pattern)


async def unique_id(conn: Conn, account_id: str, arn: str) -> str | None:
    """The unique id of the user or role of this account ``arn`` names (path included), or None."""
    entity = _own_entity(account_id, arn)
    if entity is None:
        return None
    kind, path, name = entity
    # a name IAM could not have given (wildcards, or "\ud800", which no database can even look up: a 500)
    if "*" in arn or "?" in arn or not _ENTITY_NAME.fullmatch(name):
        return None
    table, column = ("iam_users", "user_id") if kind == "user" else ("iam_roles", "role_id")
    row = await conn.one(f"SELECT {column}, path FROM {table} WHERE name = ?", (name,))
    return str(row[0]) if row is not None and row[1] == path else None


def names_own_entity(account_id: str, arn: str) -> bool:
    """Whether ``arn`` is a user or role ARN of this account (which :func:`to_ids` stores by id)."""
    return _own_entity(account_id, arn) is not None


async def to_ids(conn: Conn, account_id: str, text: str, *, keep_unknown: bool = False) -> str:
    """``text`` with this account's users and roles named by unique id.  :class:`UnknownPrincipal` for one that
    does not exist (``keep_unknown``: left as written instead, for :func:`migrate`)."""
    replacements: list[tuple[int, int, str]] = []
    for start, end, value in principal_spans(text):
        if not names_own_entity(account_id, value):
            continue
        found = await unique_id(conn, account_id, value)
        if found is not None:
            replacements.append((start, end, found))
        elif not keep_unknown:
            raise UnknownPrincipal(value)
    return _replaced(text, replacements) if replacements else text


async def current_arns(conn: Conn, account_id: str, ids: Sequence[str]) -> dict[str, str]:
    """id → current ARN of those of ``ids`` whose user or role still exists."""
    arns: dict[str, str] = {}
    wanted = sorted(set(ids))
    for table, column, kind, prefix in (("iam_users", "user_id", "user", "AIDA"),
                                        ("iam_roles", "role_id", "role", "AROA")):
        mine = [i for i in wanted if i.startswith(prefix)]
        for at in range(0, len(mine), 500):
            chunk = mine[at:at + 500]
            rows = await conn.all(f"SELECT {column}, path, name FROM {table} WHERE {column} IN "
                                  f"({', '.join('?' * len(chunk))})", tuple(chunk))
            arns.update({str(r[0]): f"arn:aws:iam::{account_id}:{kind}{r[1]}{r[2]}" for r in rows})
    return arns


async def shown(conn: Conn, account_id: str, texts: Sequence[str]) -> list[str]:
    """The stored ``texts`` as they read back: each id as its user's or role's current ARN, or bare once
    that is gone.  Texts that name no id (most) are returned as they are, without a query."""
    spans: dict[int, list[tuple[int, int, str]]] = {}
    for n, text in enumerate(texts):
        if _QUOTED_ID.search(text):
            found = [s for s in principal_spans(text) if _ID.fullmatch(s[2])]
            if found:
                spans[n] = found
    if not spans:
        return list(texts)
    arns = await current_arns(conn, account_id, [s[2] for found in spans.values() for s in found])
    out = list(texts)
    for n, found in spans.items():
        replacements = [(start, end, arns[value]) for start, end, value in found if value in arns]
        if replacements:
            out[n] = _replaced(texts[n], replacements)
    return out


async def migrate(db: Database, account_id: str) -> int:
    """Once per metadata store: the trust policies and bucket policies an earlier Storeroom stored with ARNs
    get their users and roles named by id (one transaction; several nodes starting at once convert once).
    Returns how many documents changed."""
    if await db.read.one("SELECT 1 FROM kv WHERE name = ?", (MIGRATED,)):
        return 0

    async def job(conn: Conn) -> int:
        if await conn.one("SELECT 1 FROM kv WHERE name = ?", (MIGRATED,)):
            return 0
        changed = 0
        for role_id, text in await conn.all("SELECT role_id, trust_policy FROM iam_roles"):
            new = await _converted(conn, account_id, str(text))
            if new != text:
                await conn.run("UPDATE iam_roles SET trust_policy = ? WHERE role_id = ?", (new, role_id))
                changed += 1
        for bucket, text in await conn.all("SELECT bucket, document FROM bucket_policies"):
            new = await _converted(conn, account_id, str(text))
            if new != text:
                await conn.run("UPDATE bucket_policies SET document = ? WHERE bucket = ?", (new, bucket))
                changed += 1
        await conn.run("INSERT INTO kv(name, value) VALUES (?, ?) ON CONFLICT(name) DO NOTHING", (MIGRATED, "1"))
        return changed

    return await db.write(job, bump=(generation.IAM,))


async def _converted(conn: Conn, account_id: str, text: str) -> str:
    try:
        return await to_ids(conn, account_id, text, keep_unknown=True)
    except (ValueError, IndexError, RecursionError):  # not a JSON document the walk can follow: left as it is
        return text
