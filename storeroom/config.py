"""Settings, from command-line flags and ``STOREROOM_*`` environment variables (flags win)."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path


def default_data_dir() -> Path:
    """``$STOREROOM_DATA_DIR``, else ``$XDG_DATA_HOME/storeroom``, else ``~/.local/share/storeroom``."""
    if env := os.environ.get("STOREROOM_DATA_DIR"):
        return Path(env)
    base = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(base) / "storeroom"


@dataclass(frozen=True, slots=True)
class Settings:
    data_dir: Path
    host: str = "127.0.0.1"
    port: int = 9000
    workers: int = 1
    region: str = "us-east-1"
    # Extra domains for virtual-hosted-style requests (``bucket.<domain>``); ``localhost`` is always one.
    domains: tuple[str, ...] = ()
    # Key hygiene (storeroom/hygiene.py) and metrics (storeroom/metrics.py)
    key_max_age_days: int = 90
    key_unused_days: int = 90
    metrics_public: bool = False   # GET /_storeroom/metrics without a signature from any address
    # The audit trail (storeroom/audit/): how long events are kept, whether each is committed before its
    # response, where CloudTrail log files go, whether events are also printed as JSON lines
    audit_retention_days: int = 90
    audit_sync: bool = False
    audit_export: Path | None = None
    audit_stdout: bool = False
    # The metadata backend (storeroom/store/backend.py): None for SQLite in the data dir, else a PostgreSQL URL
    meta_url: str | None = None
    # Object data (storeroom/store/blob_backend.py): "" (DATA_DIR/blobs), file:///shared/path or s3://bucket/prefix
    blobs: str = ""
    # Encryption at rest (storeroom/store/encrypted_blobs.py): new object data sealed under per-blob keys; off
    # writes new data in clear (what was encrypted stays readable)
    encryption: bool = True
    # Behind a load balancer (storeroom/http/proxy.py): the proxies whose word on the client address is taken,
    # and the header they give it in ("x-forwarded-for" or "forwarded")
    trusted_proxies: tuple[str, ...] = ()
    forwarded_header: str = "x-forwarded-for"
    # Seconds between two lifecycle runs (storeroom/s3/lifecycle_run.py); 0: only when asked
    lifecycle_interval: float = 3600.0
    # Free space kept on the data dir's volume (and a local --blobs folder's) for deletes, metadata and the audit
    # trail: new object data is refused below it (storeroom/store/space.py); "auto", a size or a percentage
    min_free: str = "auto"

    @property
    def meta_db(self) -> Path:
        return self.data_dir / "meta.sqlite3"

    @property
    def audit_db(self) -> Path:
        return self.data_dir / "audit.sqlite3"

    @property
    def blob_dir(self) -> Path:
        return self.data_dir / "blobs"

    @property
    def master_key_file(self) -> Path:
        return self.data_dir / "master.key"

    @property
    def metrics_dir(self) -> Path:
        """prometheus-client's multiprocess files (PROMETHEUS_MULTIPROC_DIR), emptied at every start."""
        return self.data_dir / "metrics"

    def to_env(self) -> dict[str, str]:
        """The settings as environment variables, for worker processes started by uvicorn."""
        return {
            "STOREROOM_DATA_DIR": str(self.data_dir),
            "STOREROOM_LISTEN": f"[{self.host}]:{self.port}" if ":" in self.host else f"{self.host}:{self.port}",
            "STOREROOM_REGION": self.region,
            "STOREROOM_DOMAINS": ",".join(self.domains),
            "STOREROOM_KEY_MAX_AGE_DAYS": str(self.key_max_age_days),
            "STOREROOM_KEY_UNUSED_DAYS": str(self.key_unused_days),
            "STOREROOM_METRICS_PUBLIC": "1" if self.metrics_public else "",
            "STOREROOM_AUDIT_RETENTION_DAYS": str(self.audit_retention_days),
            "STOREROOM_AUDIT_SYNC": "1" if self.audit_sync else "",
            "STOREROOM_AUDIT_EXPORT": str(self.audit_export or ""),
            "STOREROOM_AUDIT_STDOUT": "1" if self.audit_stdout else "",
            "STOREROOM_META_URL": self.meta_url or "",
            "STOREROOM_BLOBS": self.blobs,
            "STOREROOM_ENCRYPTION": "on" if self.encryption else "off",
            "STOREROOM_TRUSTED_PROXIES": ",".join(self.trusted_proxies),
            "STOREROOM_FORWARDED_HEADER": self.forwarded_header,
            "STOREROOM_LIFECYCLE_INTERVAL": str(self.lifecycle_interval),
            "STOREROOM_MIN_FREE": self.min_free,
        }

    @classmethod
    def from_env(cls) -> Settings:
        domains = tuple(d for d in os.environ.get("STOREROOM_DOMAINS", "").split(",") if d)
        listen = os.environ.get("STOREROOM_LISTEN", "127.0.0.1:9000")   # HOST:PORT, as `storeroom serve --listen`
        host, sep, port = listen.rpartition(":") if not listen.endswith("]") else (listen, "", "")
        host, port = (host, port) if sep else (listen, "9000")
        return cls(
            data_dir=default_data_dir(),
            host=host.strip("[]") or "127.0.0.1",
            port=int(port) if port.isdigit() else 9000,
            region=os.environ.get("STOREROOM_REGION", "us-east-1"),
            domains=domains,
            key_max_age_days=int(os.environ.get("STOREROOM_KEY_MAX_AGE_DAYS") or 90),
            key_unused_days=int(os.environ.get("STOREROOM_KEY_UNUSED_DAYS") or 90),
            metrics_public=_flag("STOREROOM_METRICS_PUBLIC"),
            audit_retention_days=int(os.environ.get("STOREROOM_AUDIT_RETENTION_DAYS") or 90),
            audit_sync=_flag("STOREROOM_AUDIT_SYNC"),
            audit_export=Path(os.environ["STOREROOM_AUDIT_EXPORT"]) if os.environ.get("STOREROOM_AUDIT_EXPORT")
            else None,
            audit_stdout=_flag("STOREROOM_AUDIT_STDOUT"),
            meta_url=os.environ.get("STOREROOM_META_URL") or None,
            blobs=os.environ.get("STOREROOM_BLOBS", ""),
            encryption=encryption_setting(os.environ.get("STOREROOM_ENCRYPTION", "on")),
            trusted_proxies=tuple(p.strip() for p in os.environ.get("STOREROOM_TRUSTED_PROXIES", "").split(",")
                                  if p.strip()),
            forwarded_header=os.environ.get("STOREROOM_FORWARDED_HEADER") or "x-forwarded-for",
            lifecycle_interval=float(os.environ.get("STOREROOM_LIFECYCLE_INTERVAL") or 3600),
            min_free=os.environ.get("STOREROOM_MIN_FREE") or "auto",
        )


def encryption_setting(value: str) -> bool:
    """``on`` (the default) or ``off``."""
    word = value.strip().lower() or "on"
    if word not in ("on", "off", "1", "0", "true", "false", "yes", "no"):
        raise ValueError(f"STOREROOM_ENCRYPTION / --encryption must be on or off, not {value!r}")
    return word in ("on", "1", "true", "yes")


def _flag(name: str) -> bool:
    return os.environ.get(name, "").lower() in ("1", "true", "yes", "on")
