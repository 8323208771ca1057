"""What every admin command shares: where the endpoint is and whose keys to sign with (:class:`Target`),
durations (``--grace 1d``), output (rich tables on a terminal, ``--json`` for scripts) and errors (one line,
exit status 2, never a traceback).

Admin commands are clients of the public APIs like any other (boto3), never readers of the data dir, so each
also works against AWS itself (``--endpoint-url ''``).  A command is declared as::

    @click.command()
    @aws_options
    @json_option
    def report(target: Target, as_json: bool) -> None:
        iam = target.client("iam")
        ...

and every botocore error raised inside becomes ``storeroom: <Code>: <Message>`` with exit status 2.
"""

from __future__ import annotations

import csv
import functools
import json
import math
import os
import re
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, NoReturn, ParamSpec, TypeVar
from urllib.parse import urlsplit

import click

from storeroom import __version__
from storeroom.config import default_data_dir

P = ParamSpec("P")
R = TypeVar("R")

LOCAL_ENDPOINT = "http://127.0.0.1:9000"
DEFAULT_REGION = "us-east-1"
# Exit statuses: 0 all well, 1 something needs the owner's attention (cron), 2 usage or API error (click's own
# usage errors exit 2 too).
EXIT_ATTENTION = 1
EXIT_ERROR = 2
EXIT_INTERRUPTED = 130  # Ctrl-C (128 + SIGINT), as shells report it: not "needs attention"


class CliError(click.ClickException):
    """A one-line error on stderr (``storeroom: ...``), exit status 2."""

    exit_code = EXIT_ERROR

    def show(self, file: Any = None) -> None:
        click.echo(f"storeroom: {self.format_message()}", err=True)


def fail(message: str) -> NoReturn:
    raise CliError(message)


class FiniteFloat(click.FloatRange):
    """A FloatRange that also refuses ``nan`` and ``inf``, which pass its comparisons (``--interval nan`` ended
    in a traceback)."""

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        converted = super().convert(value, param, ctx)
        if not math.isfinite(converted):
            self.fail(f"{value!r} is not a finite number.", param, ctx)
        return converted


async def open_meta_or_fail(data_dir: Path, url: str | None) -> Any:
    """The metadata store for an offline command, or one line saying why it cannot be reached (a PostgreSQL that
    refuses the connection ended in a traceback)."""
    from storeroom.store.backend import open_meta

    if url is None:
        return await open_meta(data_dir, url, migrate=True)
    import psycopg

    from storeroom.store.postgres import redacted

    try:
        return await open_meta(data_dir, url, migrate=True)
    except psycopg.Error as exc:
        reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        fail(f"cannot use the metadata database {redacted(url)}: {reason}")


# -- where and as whom ---------------------------------------------------------------------------------------


@dataclass
class Target:
    """The endpoint and the credentials the admin commands talk to it with.

    ``endpoint_url`` None means AWS's own endpoints.  Credentials come from boto3's chain (environment,
    ``--profile``, config files); when that finds none, root's keys from ``DATA_DIR/root-credentials.csv`` of a
    local server.
    """

    endpoint_url: str | None
    profile: str | None
    region: str | None
    data_dir: Path
    _session: Any = field(default=None, repr=False)
    _clients: dict[tuple[str, str], Any] = field(default_factory=dict, repr=False)

    @property
    def session(self) -> Any:
        if self._session is None:
            import boto3

            session = boto3.Session(profile_name=self.profile)
            if session.get_credentials() is None:
                key_id, secret = read_credentials_csv(self.data_dir / "root-credentials.csv")
                session = boto3.Session(aws_access_key_id=key_id, aws_secret_access_key=secret,
                                        profile_name=self.profile)
            self._session = session
        return self._session

    @property
    def region_name(self) -> str:
        """``--region``, else $AWS_REGION / $AWS_DEFAULT_REGION / the profile's, else us-east-1."""
        if self.region:
            return self.region
        return os.environ.get("AWS_REGION") or self.session.region_name or DEFAULT_REGION

    def client(self, service: str, tag: str = "") -> Any:
        """A boto3 client signed with the admin's credentials (one per service); ``tag`` is added to its user
        agent, so that the trail tells its requests from others' (a follower's own polls)."""
        if (service, tag) not in self._clients:
            self._clients[service, tag] = self.session.client(
                service, endpoint_url=self.endpoint_url, region_name=self.region_name,
                config=_config(aws=self.endpoint_url is None, tag=tag))
        return self._clients[service, tag]

    def client_as(self, service: str, key_id: str, secret: str, region: str | None = None,
                  max_attempts: int = 1) -> Any:
        """A client signed with other keys (a new key being checked), same endpoint."""
        import boto3

        return boto3.Session().client(
            service, endpoint_url=self.endpoint_url, region_name=region or self.region_name,
            aws_access_key_id=key_id,
            aws_secret_access_key=secret, config=_config(max_attempts, aws=self.endpoint_url is None))

    @property
    def signing_key_id(self) -> str:
        """The access key id these commands sign with."""
        return str(self.session.get_credentials().access_key)

    def wait_until_key_works(self, key_id: str, secret: str, within: float = 60.0) -> bool:
        """True once a new key signs a GetCallerIdentity: at once on Storeroom, while AWS takes a few seconds
        to propagate a new key everywhere."""
        sts = self.client_as("sts", key_id, secret)
        deadline = time.monotonic() + within
        while True:
            try:
                sts.get_caller_identity()
                return True
            except Exception as e:
                if error_code(e) not in ("InvalidClientTokenId", "InvalidAccessKeyId", "SignatureDoesNotMatch"):
                    raise
                if time.monotonic() > deadline:
                    return False
                sleep(2)


def _config(max_attempts: int = 3, *, aws: bool = False, tag: str = "") -> Any:
    """``aws``: AWS's own endpoints (``--endpoint-url ''``), whatever AWS_ENDPOINT_URL or the profile's
    endpoint_url say — boto3 would read them itself, and a command meant for AWS would act on a local server."""
    from botocore.config import Config

    # The user agent tells the audit trail which requests came from these commands.
    return Config(retries={"max_attempts": max_attempts, "mode": "standard"}, connect_timeout=5,
                  read_timeout=60, user_agent_extra=f"storeroom-cli/{__version__}{' ' + tag if tag else ''}",
                  ignore_configured_endpoint_urls=aws)


def read_credentials_csv(path: Path) -> tuple[str, str]:
    """Keys from AWS's access key CSV (``Access key ID,Secret access key``; the console's download may add
    columns and a byte-order mark)."""
    try:
        with open(path, newline="", encoding="utf-8-sig") as f:
            rows = list(csv.DictReader(f))
    except FileNotFoundError:
        fail("no AWS credentials found: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY (or --profile), or give "
             f"--data-dir of a local server ({path} does not exist)")
    except (OSError, UnicodeDecodeError, csv.Error) as e:
        fail(f"cannot read {path}: {e}")
    for row in rows:
        key_id, secret = row.get("Access key ID"), row.get("Secret access key")
        if key_id and secret:
            return key_id.strip(), secret.strip()
    fail(f"{path} has no 'Access key ID,Secret access key' row")


def _default_endpoint() -> str:
    return os.environ.get("AWS_ENDPOINT_URL") or LOCAL_ENDPOINT


def aws_options(fn: Callable[P, R]) -> Callable[..., R]:
    """Adds --endpoint-url, --profile, --region and --data-dir, passes them on as ``target``, and turns
    botocore's errors into one-line messages with exit status 2."""

    @click.option("--endpoint-url", default=_default_endpoint, show_default="$AWS_ENDPOINT_URL, else "
                  f"{LOCAL_ENDPOINT}", help="the Storeroom (or S3/IAM) endpoint; '' for AWS's own endpoints")
    @click.option("--profile", default=None, help="a profile of ~/.aws/config and ~/.aws/credentials")
    @click.option("--region", default=None,
                  help="region to sign for (default: $AWS_REGION, $AWS_DEFAULT_REGION, the profile's, us-east-1)")
    @click.option("--data-dir", type=click.Path(path_type=Path), default=default_data_dir,
                  show_default="storeroom serve's default",
                  help="a local server's data dir: root's keys are read from DATA_DIR/root-credentials.csv "
                       "when no credentials are configured (environment, profile)")
    @functools.wraps(fn)
    def wrapper(*args: Any, endpoint_url: str, profile: str | None, region: str | None, data_dir: Path,
                **kwargs: Any) -> R:
        _check_endpoint(endpoint_url)
        target = Target(endpoint_url or None, profile, region, data_dir)
        with aws_errors(target):
            return fn(*args, target=target, **kwargs)  # type: ignore[arg-type]

    return wrapper


def _check_endpoint(url: str) -> None:
    """botocore's "Invalid endpoint" is a ValueError raised deep in client creation: said here, in one line."""
    if not url:
        return  # AWS's own endpoints
    try:
        parts = urlsplit(url)
        readable = parts.port is None or parts.port >= 0  # .port raises ValueError for a port that is none
    except ValueError:  # "http://[::1": urlsplit's own ValueError was a traceback
        readable = False
    if not readable or parts.scheme not in ("http", "https") or not parts.netloc:
        raise CliError(f"invalid endpoint URL {url!r} (--endpoint-url or $AWS_ENDPOINT_URL): expected "
                       "http://HOST:PORT or https://HOST[:PORT]")


def json_option(fn: Callable[P, R]) -> Callable[P, R]:
    return click.option("--json", "as_json", is_flag=True,
                        help="print JSON for scripts instead of a table")(fn)


@contextmanager
def aws_errors(target: Target | None = None) -> Iterator[None]:
    """Turns botocore's exceptions into :class:`CliError`: the AWS error code and message, one line."""
    from botocore import exceptions as e
    from botocore.parsers import ResponseParserError

    try:
        yield
    except e.ClientError as error:
        if _answered_in_html(error):
            raise CliError(_not_the_api(target, f"HTTP {error.response['Error']['Code']} with a web page")) from None
        raise CliError(describe_client_error(error)) from None
    except ResponseParserError:  # an answer botocore cannot read: a web page, another protocol
        raise CliError(_not_the_api(target, "in a form that is neither S3's nor IAM's")) from None
    except e.NoCredentialsError:
        raise CliError("no AWS credentials found: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, --profile, "
                       "or --data-dir of a local server") from None
    except e.EndpointConnectionError as error:
        where = target.endpoint_url if target else None
        raise CliError(f"cannot connect to {where or 'AWS'}: is the server running? ({error})") from None
    except e.BotoCoreError as error:  # (ParamValidationError says one problem a line: one line here)
        raise CliError(" ".join(str(error).split("\n"))) from None


def _answered_in_html(error: Any) -> bool:
    """botocore's reading of an error that was a web page: the status as the code, the page as the message."""
    info = getattr(error, "response", {}).get("Error", {})
    return str(info.get("Code", "")).isdigit() and str(info.get("Message", "")).lstrip()[:1] == "<"


def _not_the_api(target: Target | None, what: str) -> str:
    where = (target.endpoint_url if target else None) or "the endpoint"
    return (f"{where} is not Storeroom's API: it answered {what} (the web console's port? The API listens on "
            "`storeroom serve --listen`, 127.0.0.1:9000 by default: set --endpoint-url or $AWS_ENDPOINT_URL)")


def describe_client_error(error: Any) -> str:
    """``Code: Message`` of a botocore ClientError."""
    info = getattr(error, "response", {}).get("Error", {})
    code = info.get("Code") or "Error"
    message = info.get("Message") or str(error)
    return f"{code}: {message}"


def error_code(error: BaseException) -> str | None:
    """The AWS error code of a botocore ClientError, else None."""
    response = getattr(error, "response", None)
    if isinstance(response, dict):
        code = response.get("Error", {}).get("Code")
        return str(code) if code else None
    return None


# -- durations and times -------------------------------------------------------------------------------------

_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}
_LONGEST = 100 * 366 * 86400
_DURATION = re.compile(r"(\d+(?:\.\d+)?)\s*([smhdw]?)")


def parse_duration(text: str) -> float:
    """Seconds in ``90``, ``30s``, ``5m``, ``1h30m``, ``1d``, ``2w`` (a bare number is seconds)."""
    text = text.strip().lower()
    pos, total = 0, 0.0
    for match in _DURATION.finditer(text):
        if match.start() != pos or (match.group(2) == "" and (pos != 0 or match.end() != len(text))):
            break
        total += float(match.group(1)) * _UNITS[match.group(2) or "s"]
        pos = match.end()
    if not text or pos != len(text) or not math.isfinite(total):
        raise ValueError(f"expected a duration like 30s, 5m, 1h, 1d or 2w, got {text!r}")
    if total > _LONGEST:  # (a date that far back, or a timer that long, is out of any calendar's range)
        raise ValueError(f"a duration of at most 100 years, got {text!r}")
    return total


def duration_option(*names: str, default: str, help: str) -> Callable[[Callable[P, R]], Callable[P, R]]:
    """A click option whose value is a duration (``1d``, ``90s``), passed on as seconds (float)."""

    def to_seconds(ctx: click.Context, param: click.Parameter, value: str) -> float:
        try:
            return parse_duration(value)
        except ValueError as e:
            raise click.BadParameter(str(e), ctx, param) from None

    return click.option(*names, default=default, show_default=True, metavar="DURATION", callback=to_seconds,
                        help=help)


def iso(when: datetime | float | None) -> str | None:
    """ISO 8601 UTC, seconds precision (``2025-01-31T12:00:00Z``)."""
    if when is None:
        return None
    if isinstance(when, int | float):
        when = datetime.fromtimestamp(when, UTC)
    return when.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_iso(text: str) -> datetime | None:
    try:
        when = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None
    return when if when.tzinfo else when.replace(tzinfo=UTC)


def now() -> datetime:
    return datetime.now(UTC)


def human_age(seconds: float) -> str:
    """``3d``, ``5h``, ``12m``, ``40s``: the largest unit, for tables."""
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size:
            return f"{int(seconds // size)}{unit}"
    return f"{max(int(seconds), 0)}s"


# -- paginated IAM lists ---------------------------------------------------------------------------------------


def paginate(client: Any, operation: str, key: str, **params: Any) -> Iterator[Any]:
    """Every item under ``key`` of a paginated list operation (ListUsers, ListAccessKeys...)."""
    for page in client.get_paginator(operation).paginate(**params):
        yield from page.get(key, [])


# -- output --------------------------------------------------------------------------------------------------


class Output:
    """Results on stdout (a rich table, or JSON with ``--json``); progress and notes on stderr."""

    def __init__(self, as_json: bool) -> None:
        from rich.console import Console

        self.as_json = as_json
        # Piped (cron mail, a file): wide enough that a table keeps one line per row.
        self.console = Console(width=None if sys.stdout.isatty() else 200)
        self.err = Console(stderr=True, highlight=False, width=None if sys.stderr.isatty() else 200)

    def json(self, data: Any) -> None:
        sys.stdout.write(json.dumps(data, indent=2, default=str) + "\n")
        sys.stdout.flush()

    def table(self, title: str | None, columns: list[str], rows: list[list[str]]) -> None:
        from rich.table import Table

        table = Table(title=title, title_justify="left", show_lines=False, pad_edge=False, box=None,
                      header_style="bold")
        for column in columns:
            table.add_column(column, overflow="fold")
        for row in rows:
            table.add_row(*map(shown, row))
        self.console.print(table)

    def line(self, text: str, markup: bool = False) -> None:
        """A result line (stdout); in JSON mode results go in the JSON instead, so this goes to stderr."""
        (self.err if self.as_json else self.console).print(text, markup=markup, highlight=False, soft_wrap=True)

    def note(self, text: str, markup: bool = False) -> None:
        """Progress or a warning: stderr, never mixed into the results."""
        self.err.print(text, markup=markup, highlight=False, soft_wrap=True)


_CONTROL = re.compile("[\x00-\x1f\x7f-\x9f]")


def shown(text: str) -> str:
    """``text`` as a terminal may print it: a control character (an object key's ESC sequence, which recoloured or
    hid the admin's screen; a line break, which split a row) is shown escaped, ``\x1b``."""
    return _CONTROL.sub(lambda m: f"\\x{ord(m.group()):02x}", text) if _CONTROL.search(text) else text


def sleep(seconds: float) -> None:
    time.sleep(max(seconds, 0.0))
