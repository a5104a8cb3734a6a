"""Every setting the index reads from the environment, in one place.

Nothing else in the package looks at ``os.environ``: code asks for a ``Settings``
(``request.registry.settings["warehouse"]`` in views, ``Settings.from_env()`` in the CLI).
Development defaults let ``make serve`` run with no environment at all; the production
profile (``WAREHOUSE_ENV=production``) tightens what must be tight.
"""

from __future__ import annotations

import dataclasses
import ipaddress
import os
from collections.abc import Mapping
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
STATE_DIR = REPO_ROOT / ".state"

MiB = 1024 * 1024
GiB = 1024 * MiB


class SettingsError(ValueError):
    pass


def _bool(value: str) -> bool:
    lowered = value.strip().lower()
    if lowered in {"1", "true", "yes", "on"}:
        return True
    if lowered in {"0", "false", "no", "off", ""}:
        return False
    raise SettingsError(f"not a boolean: {value!r}")


@dataclasses.dataclass(frozen=True)
class RateLimit:
    """``count`` events per ``seconds``; written ``"20/minute"`` or ``"1000/3600"``."""

    count: int
    seconds: int

    UNITS = {"second": 1, "minute": 60, "hour": 3600, "day": 86400}

    @classmethod
    def parse(cls, text: str) -> RateLimit:
        try:
            count_text, per = text.replace(" per ", "/").split("/", 1)
            count = int(count_text)
            per = per.strip()
            seconds = cls.UNITS[per] if per in cls.UNITS else int(per)
        except (ValueError, KeyError) as exc:
            raise SettingsError(
                f"rate limit {text!r} is not like '20/minute' or '100/3600'"
            ) from exc
        if count < 0 or seconds <= 0:
            raise SettingsError(f"rate limit {text!r} must be positive")
        return cls(count, seconds)


@dataclasses.dataclass(frozen=True)
class Settings:
    env: str = "development"
    database_url: str = "postgresql+psycopg://postgres@127.0.0.1:54320/warehouse"
    redis_url: str = "redis://127.0.0.1:63790/0"
    port: int = 8000
    # Where files are linked from in the simple and JSON APIs; empty means the same origin.
    files_url: str = ""
    files_backend: str = "local"
    files_path: str = str(STATE_DIR / "files")
    s3_endpoint_url: str | None = None
    s3_region: str = "us-east-1"
    s3_bucket: str = "warehouse-files"
    s3_prefix: str = ""
    s3_access_key_id: str | None = None
    s3_secret_access_key: str | None = None
    max_file_size: int = 100 * MiB
    max_project_size: int = 10 * GiB
    upload_ratelimit: RateLimit = RateLimit(100_000, 3600)
    new_project_ratelimit: RateLimit = RateLimit(100_000, 3600)
    login_ratelimit: RateLimit = RateLimit(1000, 3600)
    xmlrpc_ratelimit: RateLimit = RateLimit(1200, 60)
    # Reports about projects (warehouse.admin), per reporting user.
    report_ratelimit: RateLimit = RateLimit(20, 3600)
    # Uploading and managing projects require 2FA and a verified email (production).
    require_2fa: bool = False
    require_verified_email: bool = True
    simple_cache_seconds: int = 600
    log_format: str = "console"
    secret_key: str = "development-secret-do-not-use-in-production"
    # Celery. Empty URLs mean the Redis of redis_url, database 1 for the broker and 2 for
    # results; production sets WAREHOUSE_BROKER_URL=sqs:// (kombu's SQS transport).
    broker_url: str = ""
    result_backend: str = ""
    sqs_region: str = "us-east-1"
    sqs_queue_prefix: str = "warehouse-"
    # False only for a plain-http SQS endpoint (moto in tests).
    sqs_secure: bool = True
    # The cache store that downloads are served from (B2 in production); the files_* and s3_*
    # settings above describe the archive. An empty backend means the archive is the cache.
    cache_backend: str = ""
    cache_path: str = str(STATE_DIR / "cache")
    cache_s3_endpoint_url: str | None = None
    cache_s3_region: str = "us-east-1"
    cache_s3_bucket: str = "warehouse-cache"
    cache_s3_prefix: str = ""
    cache_s3_access_key_id: str | None = None
    cache_s3_secret_access_key: str | None = None
    cache_reconcile_seconds: int = 60
    cache_audit_seconds: int = 6 * 3600
    # Store verification (warehouse.storage.verify): ranges are cut on this many leading hex
    # digits of the content address; the hourly beat task verifies enough ranges that each
    # store is fully verified every verify_full_pass_days (with repair if asked).
    verify_range_digits: int = 2
    verify_full_pass_days: int = 7
    verify_rolling_repair: bool = False
    verify_page_size: int = 1000
    # A worker holds a range this long without a checkpoint before another may take it.
    verify_lease_seconds: int = 300
    # Blobs younger than this at a run's start are not judged (their upload may not have
    # committed its row yet).
    verify_orphan_min_age_seconds: int = 3600
    # CDN purging: "none", "varnish" (xkey PURGE to cdn_varnish_url) or "fastly".
    cdn_backend: str = "none"
    cdn_varnish_url: str = ""  # empty: http://127.0.0.1:<port>
    fastly_api_url: str = "https://api.fastly.com"
    fastly_service_id: str = ""
    fastly_api_key: str = ""
    fastly_soft_purge: bool = True
    # A second purge this long after the first catches a page a CDN fetched while the change
    # was committing (0: purge once).
    cdn_repurge_seconds: int = 5
    # The web app's front sends whole installer answers again from memory while they hold
    # (warehouse.asgi); off only to measure what it is worth (bench/read_layers.py).
    answer_memo: bool = True
    # Search: "postgres" (full-text search in the database) or "opensearch" (OpenSearch or
    # Elasticsearch at opensearch_url, through the alias opensearch_index).
    search_backend: str = "postgres"
    opensearch_url: str = "http://127.0.0.1:9200"
    opensearch_index: str = "warehouse-projects"
    # The site's public address, for links in emails (required in production: otherwise links
    # would be built from the client-controlled Host header).
    site_url: str = ""
    # Session cookie "Secure" flag: None sets it on https requests only.
    session_cookie_secure: bool | None = None
    # Outgoing mail: "console" (to the log), "smtp" or "ses".
    email_backend: str = "console"
    # Send mail from a Celery worker (after the commit); off: from the web process itself,
    # after the commit (for setups without a worker, and tests that read mail at once).
    email_via_worker: bool = True
    mail_sender: str = "Warehouse <noreply@localhost>"
    smtp_host: str = "localhost"
    smtp_port: int = 25
    smtp_tls: str = "starttls"
    smtp_username: str | None = None
    smtp_password: str | None = None
    ses_region: str = "us-east-1"
    ses_endpoint_url: str | None = None
    ses_configuration_set: str = ""
    # Who may read /metrics: addresses or networks, comma-separated.
    metrics_allow: str = "127.0.0.0/8,::1"
    # The proxies in front of the apps (the CDN), as addresses or networks, comma-separated.
    # A request from one of them is from the client it names in X-Forwarded-For (per-IP
    # rate limits, events); anyone else's X-Forwarded-For is ignored (warehouse.proxies).
    trusted_proxies: str = ""
    # Where a Celery worker and beat serve /metrics (0: they do not; the gunicorn apps serve
    # /metrics on their own port), and on which address.
    worker_metrics_port: int = 0
    beat_metrics_port: int = 0
    metrics_addr: str = "127.0.0.1"
    # Download statistics (warehouse.stats). Where varnishncsa writes the CDN's log lines on
    # this machine (empty: no local CDN log to ship; production's Fastly writes to the
    # bucket itself), the pidfile of that varnishncsa, how often the file is rotated and
    # shipped, and how often the bucket is checked for log objects not counted yet.
    stats_log_dir: str = ""
    stats_ncsa_pidfile: str = ""
    stats_rotate_seconds: int = 60
    stats_discover_seconds: int = 300
    # Threads that read one batch's log objects at once (warehouse.stats.ingest): about a
    # machine's cores, with one stats worker process per machine.
    stats_read_threads: int = 2
    # Raw log objects are kept this many days for recounting (0: forever), and the daily
    # aggregates are exported as a dataset under this prefix of the archive each night.
    stats_logs_retention_days: int = 400
    stats_dataset_prefix: str = "datasets/downloads/"
    # Package scanning (warehouse.scanning). Every upload is scanned before its transaction
    # commits, in the uploads worker, for at most scan_upload_budget_seconds; a file not
    # finished by then holds its release until a worker scans it in a child process (limits
    # below). The global runs' children have the same limits; a release is retried up to
    # scan_max_attempts times. scan_workdir: where workers prefetch files (empty: a temp dir).
    scan_uploads: bool = True
    scan_upload_budget_seconds: float = 2.0
    scan_child_cpu_seconds: int = 60
    scan_child_memory_mb: int = 1536
    scan_max_attempts: int = 3
    scan_workdir: str = ""

    # Upstream indexes (warehouse.upstreams): the Fernet key that encrypts their credentials
    # (empty: derived from secret_key), and how often beat looks for upstream changes.
    upstream_credentials_key: str = ""
    upstream_sync_seconds: int = 300

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Settings:
        env = os.environ if environ is None else environ
        profile = env.get("WAREHOUSE_ENV", "development")
        values: dict[str, object] = {"env": profile}
        if profile == "production":
            values.update(
                upload_ratelimit=RateLimit(20, 60),
                new_project_ratelimit=RateLimit(40, 3600),
                login_ratelimit=RateLimit(10, 300),
                require_2fa=True,
                log_format="json",
                session_cookie_secure=True,
                email_backend="smtp",
            )

        def take(name: str, field: str, convert=str) -> None:
            if name in env and env[name] != "":
                try:
                    values[field] = convert(env[name])
                except (ValueError, SettingsError) as exc:
                    raise SettingsError(f"{name}: {exc}") from exc

        take("DATABASE_URL", "database_url", _normalize_database_url)
        take("REDIS_URL", "redis_url")
        take("WAREHOUSE_PORT", "port", int)
        take("WAREHOUSE_FILES_URL", "files_url")
        take("WAREHOUSE_FILES_BACKEND", "files_backend")
        take("WAREHOUSE_FILES_PATH", "files_path")
        take("WAREHOUSE_S3_ENDPOINT_URL", "s3_endpoint_url")
        take("WAREHOUSE_S3_REGION", "s3_region")
        take("WAREHOUSE_S3_BUCKET", "s3_bucket")
        take("WAREHOUSE_S3_PREFIX", "s3_prefix")
        take("AWS_ACCESS_KEY_ID", "s3_access_key_id")
        take("AWS_SECRET_ACCESS_KEY", "s3_secret_access_key")
        take("WAREHOUSE_MAX_FILE_SIZE", "max_file_size", int)
        take("WAREHOUSE_MAX_PROJECT_SIZE", "max_project_size", int)
        take("WAREHOUSE_UPLOAD_RATELIMIT", "upload_ratelimit", RateLimit.parse)
        take("WAREHOUSE_NEW_PROJECT_RATELIMIT", "new_project_ratelimit", RateLimit.parse)
        take("WAREHOUSE_LOGIN_RATELIMIT", "login_ratelimit", RateLimit.parse)
        take("WAREHOUSE_XMLRPC_RATELIMIT", "xmlrpc_ratelimit", RateLimit.parse)
        take("WAREHOUSE_REPORT_RATELIMIT", "report_ratelimit", RateLimit.parse)
        take("WAREHOUSE_REQUIRE_2FA", "require_2fa", _bool)
        take("WAREHOUSE_REQUIRE_VERIFIED_EMAIL", "require_verified_email", _bool)
        take("WAREHOUSE_SIMPLE_CACHE_SECONDS", "simple_cache_seconds", int)
        take("WAREHOUSE_LOG_FORMAT", "log_format")
        take("WAREHOUSE_SECRET_KEY", "secret_key")
        take("WAREHOUSE_BROKER_URL", "broker_url")
        take("WAREHOUSE_RESULT_BACKEND", "result_backend")
        take("WAREHOUSE_SQS_REGION", "sqs_region")
        take("WAREHOUSE_SQS_QUEUE_PREFIX", "sqs_queue_prefix")
        take("WAREHOUSE_SQS_SECURE", "sqs_secure", _bool)
        take("WAREHOUSE_CACHE_BACKEND", "cache_backend")
        take("WAREHOUSE_CACHE_PATH", "cache_path")
        take("WAREHOUSE_CACHE_S3_ENDPOINT_URL", "cache_s3_endpoint_url")
        take("WAREHOUSE_CACHE_S3_REGION", "cache_s3_region")
        take("WAREHOUSE_CACHE_S3_BUCKET", "cache_s3_bucket")
        take("WAREHOUSE_CACHE_S3_PREFIX", "cache_s3_prefix")
        take("WAREHOUSE_CACHE_ACCESS_KEY_ID", "cache_s3_access_key_id")
        take("WAREHOUSE_CACHE_SECRET_ACCESS_KEY", "cache_s3_secret_access_key")
        take("WAREHOUSE_CACHE_RECONCILE_SECONDS", "cache_reconcile_seconds", int)
        take("WAREHOUSE_CACHE_AUDIT_SECONDS", "cache_audit_seconds", int)
        take("WAREHOUSE_VERIFY_RANGE_DIGITS", "verify_range_digits", int)
        take("WAREHOUSE_VERIFY_FULL_PASS_DAYS", "verify_full_pass_days", int)
        take("WAREHOUSE_VERIFY_ROLLING_REPAIR", "verify_rolling_repair", _bool)
        take("WAREHOUSE_VERIFY_PAGE_SIZE", "verify_page_size", int)
        take("WAREHOUSE_VERIFY_LEASE_SECONDS", "verify_lease_seconds", int)
        take("WAREHOUSE_VERIFY_ORPHAN_MIN_AGE_SECONDS", "verify_orphan_min_age_seconds", int)
        take("WAREHOUSE_CDN_BACKEND", "cdn_backend")
        take("WAREHOUSE_CDN_VARNISH_URL", "cdn_varnish_url")
        take("WAREHOUSE_FASTLY_API_URL", "fastly_api_url")
        take("WAREHOUSE_FASTLY_SERVICE_ID", "fastly_service_id")
        take("WAREHOUSE_FASTLY_API_KEY", "fastly_api_key")
        take("WAREHOUSE_FASTLY_SOFT_PURGE", "fastly_soft_purge", _bool)
        take("WAREHOUSE_CDN_REPURGE_SECONDS", "cdn_repurge_seconds", int)
        take("WAREHOUSE_ANSWER_MEMO", "answer_memo", _bool)
        take("WAREHOUSE_SEARCH_BACKEND", "search_backend")
        take("WAREHOUSE_OPENSEARCH_URL", "opensearch_url")
        take("WAREHOUSE_OPENSEARCH_INDEX", "opensearch_index")
        take("WAREHOUSE_EMAIL_BACKEND", "email_backend")
        take("WAREHOUSE_MAIL_SENDER", "mail_sender")
        take("WAREHOUSE_SMTP_HOST", "smtp_host")
        take("WAREHOUSE_SMTP_PORT", "smtp_port", int)
        take("WAREHOUSE_SMTP_TLS", "smtp_tls")
        take("WAREHOUSE_SMTP_USERNAME", "smtp_username")
        take("WAREHOUSE_SMTP_PASSWORD", "smtp_password")
        take("WAREHOUSE_SES_REGION", "ses_region")
        take("WAREHOUSE_SES_ENDPOINT_URL", "ses_endpoint_url")
        take("WAREHOUSE_SES_CONFIGURATION_SET", "ses_configuration_set")
        take("WAREHOUSE_METRICS_ALLOW", "metrics_allow")
        take("WAREHOUSE_TRUSTED_PROXIES", "trusted_proxies")
        take("WAREHOUSE_WORKER_METRICS_PORT", "worker_metrics_port", int)
        take("WAREHOUSE_BEAT_METRICS_PORT", "beat_metrics_port", int)
        take("WAREHOUSE_METRICS_ADDR", "metrics_addr")
        take("WAREHOUSE_SITE_URL", "site_url")
        take("WAREHOUSE_STATS_LOG_DIR", "stats_log_dir")
        take("WAREHOUSE_STATS_NCSA_PIDFILE", "stats_ncsa_pidfile")
        take("WAREHOUSE_STATS_ROTATE_SECONDS", "stats_rotate_seconds", int)
        take("WAREHOUSE_STATS_DISCOVER_SECONDS", "stats_discover_seconds", int)
        take("WAREHOUSE_STATS_READ_THREADS", "stats_read_threads", int)
        take("WAREHOUSE_STATS_LOGS_RETENTION_DAYS", "stats_logs_retention_days", int)
        take("WAREHOUSE_STATS_DATASET_PREFIX", "stats_dataset_prefix")
        take("WAREHOUSE_SCAN_UPLOADS", "scan_uploads", _bool)
        take("WAREHOUSE_SCAN_UPLOAD_BUDGET_SECONDS", "scan_upload_budget_seconds", float)
        take("WAREHOUSE_SCAN_CHILD_CPU_SECONDS", "scan_child_cpu_seconds", int)
        take("WAREHOUSE_SCAN_CHILD_MEMORY_MB", "scan_child_memory_mb", int)
        take("WAREHOUSE_SCAN_MAX_ATTEMPTS", "scan_max_attempts", int)
        take("WAREHOUSE_SCAN_WORKDIR", "scan_workdir")
        take("WAREHOUSE_EMAIL_VIA_WORKER", "email_via_worker", _bool)
        take("WAREHOUSE_UPSTREAM_CREDENTIALS_KEY", "upstream_credentials_key")
        take("WAREHOUSE_UPSTREAM_SYNC_SECONDS", "upstream_sync_seconds", int)
        take("WAREHOUSE_SESSION_COOKIE_SECURE", "session_cookie_secure", _auto_bool)

        settings = cls(**values)  # type: ignore[arg-type]
        settings.validate()
        return settings

    def validate(self) -> None:
        if self.files_backend not in {"local", "s3"}:
            raise SettingsError(
                f"WAREHOUSE_FILES_BACKEND must be 'local' or 's3', not {self.files_backend!r}"
            )
        if self.cache_backend not in {"", "local", "s3"}:
            raise SettingsError(
                "WAREHOUSE_CACHE_BACKEND must be empty, 'local' or 's3', "
                f"not {self.cache_backend!r}"
            )
        if self.cdn_backend not in {"none", "varnish", "fastly"}:
            raise SettingsError(
                "WAREHOUSE_CDN_BACKEND must be 'none', 'varnish' or 'fastly', "
                f"not {self.cdn_backend!r}"
            )
        if self.cdn_backend == "fastly" and not (self.fastly_service_id and self.fastly_api_key):
            raise SettingsError(
                "WAREHOUSE_CDN_BACKEND=fastly needs WAREHOUSE_FASTLY_SERVICE_ID and "
                "WAREHOUSE_FASTLY_API_KEY"
            )
        if self.search_backend not in {"postgres", "opensearch"}:
            raise SettingsError(
                "WAREHOUSE_SEARCH_BACKEND must be 'postgres' or 'opensearch', "
                f"not {self.search_backend!r}"
            )
        if self.email_backend not in {"console", "smtp", "ses"}:
            raise SettingsError(
                "WAREHOUSE_EMAIL_BACKEND must be 'console', 'smtp' or 'ses', "
                f"not {self.email_backend!r}"
            )
        if self.stats_rotate_seconds <= 0 or self.stats_discover_seconds <= 0:
            raise SettingsError(
                "WAREHOUSE_STATS_ROTATE_SECONDS and WAREHOUSE_STATS_DISCOVER_SECONDS must be "
                "positive"
            )
        if not self.stats_dataset_prefix.startswith("datasets/"):
            # Store audits skip datasets/ (warehouse.storage.keys.FOREIGN_PREFIXES); anywhere
            # else, the datasets would be judged as orphan blobs.
            raise SettingsError("WAREHOUSE_STATS_DATASET_PREFIX must start with datasets/")
        if not 0 <= self.verify_range_digits <= 4:
            raise SettingsError("WAREHOUSE_VERIFY_RANGE_DIGITS must be between 0 and 4")
        if self.verify_full_pass_days < 1 or self.verify_page_size < 1:
            raise SettingsError(
                "WAREHOUSE_VERIFY_FULL_PASS_DAYS and WAREHOUSE_VERIFY_PAGE_SIZE must be positive"
            )
        if self.scan_upload_budget_seconds <= 0 or self.scan_child_cpu_seconds <= 0:
            raise SettingsError(
                "WAREHOUSE_SCAN_UPLOAD_BUDGET_SECONDS and WAREHOUSE_SCAN_CHILD_CPU_SECONDS must "
                "be positive"
            )
        for name, text in (
            ("WAREHOUSE_METRICS_ALLOW", self.metrics_allow),
            ("WAREHOUSE_TRUSTED_PROXIES", self.trusted_proxies),
        ):
            try:
                parse_networks(text)
            except ValueError as exc:
                raise SettingsError(f"{name}: {exc}") from exc
        if self.env == "production" and self.secret_key == Settings.secret_key:
            raise SettingsError("WAREHOUSE_SECRET_KEY must be set in production")
        if self.env == "production" and not self.site_url:
            raise SettingsError("WAREHOUSE_SITE_URL must be set in production")

    def replace(self, **changes) -> Settings:
        return dataclasses.replace(self, **changes)


def parse_networks(text: str) -> tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...]:
    """``"10.0.0.0/8, ::1"`` as networks (a lone address is a network of one)."""
    networks = []
    for item in text.split(","):
        item = item.strip()
        if item:
            try:
                networks.append(ipaddress.ip_network(item, strict=False))
            except ValueError:
                raise ValueError(f"{item!r} is not an IP address or network") from None
    return tuple(networks)


def _auto_bool(value: str) -> bool | None:
    return None if value.strip().lower() == "auto" else _bool(value)


def _normalize_database_url(url: str) -> str:
    # People paste libpq-style URLs; SQLAlchemy needs to be told to use psycopg 3.
    for plain in ("postgres://", "postgresql://"):
        if url.startswith(plain):
            return "postgresql+psycopg://" + url[len(plain) :]
    return url
