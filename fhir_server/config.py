"""Settings, read from ``MEDREC_*`` environment variables (and a ``.env`` file if present)."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="MEDREC_", env_file=".env", extra="ignore")

    mongodb_uri: str | None = Field(
        default=None,
        description="MongoDB connection string. Unset: start the embedded database in data_dir.",
    )
    database: str = Field(default="medrec", description="MongoDB database name.")
    mongodb_timeout_ms: int = Field(
        default=10_000,
        ge=100,
        description="How long a request waits for a reachable MongoDB primary before a 503.",
    )
    data_dir: Path = Field(
        default=Path("medrec-data"), description="Where the embedded database keeps its files."
    )
    host: str = Field(default="127.0.0.1", description="Address `medrec serve` binds to.")
    port: int = Field(default=8080, ge=1, le=65535, description="Port `medrec serve` listens on.")
    base_url: str | None = Field(
        default=None,
        description="Public FHIR base URL (e.g. https://fhir.example.org/fhir). Unset: taken "
        "from each request's Host.",
    )
    max_body_bytes: int = Field(
        default=16 * 1024 * 1024, ge=1024, description="Largest request body accepted (413 above)."
    )
    max_bundle_entries: int = Field(
        default=10_000, ge=1, description="Most entries in a transaction or batch (413 above)."
    )
    max_query_bytes: int = Field(
        default=16 * 1024, ge=256, description="Longest query string accepted (414 above)."
    )
    max_json_depth: int = Field(
        default=64, ge=8, le=512, description="Deepest JSON nesting accepted in a body."
    )
    search_page_size: int = Field(default=20, ge=1, description="Default _count for search.")
    search_max_page_size: int = Field(default=1000, ge=1, description="Largest search _count.")
    history_page_size: int = Field(default=50, ge=1, description="Default _count for history.")
    history_max_page_size: int = Field(default=1000, ge=1, description="Largest _count honoured.")
    access_log: bool = Field(
        default=False,
        description="uvicorn access log. Off by default: URLs can carry patient identifiers.",
    )
    log_level: str = Field(default="info", description="Log level for the medrec process.")
    shutdown_timeout_s: int = Field(
        default=15, ge=1, description="How long `medrec serve` lets requests finish on shutdown."
    )

    # -- SMART on FHIR authorization (smart_auth/) --
    auth: Literal["on", "off"] = Field(
        default="on",
        description="Authorization on every request. `off` is for local development only: "
        "anyone can read and write everything (said loudly at start-up).",
    )
    access_token_lifetime_s: int = Field(
        default=900, ge=60, le=86_400, description="Lifetime of an access token."
    )
    online_refresh_lifetime_s: int = Field(
        default=8 * 3600,
        ge=60,
        description="Lifetime of a refresh token granted with `online_access`.",
    )
    offline_refresh_lifetime_s: int = Field(
        default=30 * 86_400,
        ge=60,
        description="Lifetime of a refresh token granted with `offline_access`.",
    )
    session_idle_timeout_s: int = Field(
        default=900, ge=60, description="A login session ends after this long without use."
    )
    login_max_failures: int = Field(
        default=5, ge=1, description="Failed logins in a row before an account is locked."
    )
    login_lockout_s: int = Field(
        default=900, ge=1, description="How long a locked account stays locked."
    )
    audit_journal_dir: Path | None = Field(
        default=None,
        description="Where each process journals its AuditEvents before answering, until they "
        "are stored in the database. Unset: <data_dir>/audit-journal. Local to the machine; "
        "a medrec starting on it stores what a process that ended left there.",
    )
    # -- HL7 v2 feeds (ingestion/hl7v2) ----------------------------------------------------------
    hl7_mllp_enabled: bool = Field(
        default=False, description="Run the HL7 v2 MLLP listener inside `medrec serve`."
    )
    hl7_host: str = Field(default="127.0.0.1", description="Address the MLLP listener binds to.")
    hl7_port: int = Field(default=2575, ge=1, le=65535, description="MLLP listener port.")
    hl7_read_timeout_s: float = Field(
        default=30.0,
        gt=0,
        description="Longest wait for the rest of a started MLLP frame (a missing end marker).",
    )
    hl7_idle_timeout_s: float = Field(
        default=3600.0, gt=0, description="An MLLP connection idle this long is closed."
    )
    hl7_max_message_bytes: int = Field(
        default=16 * 1024 * 1024, ge=1024, description="Largest HL7 v2 message accepted."
    )
    hl7_tls_cert: Path | None = Field(
        default=None, description="PEM certificate chain: MLLP over TLS when set (with the key)."
    )
    hl7_tls_key: Path | None = Field(default=None, description="PEM private key for MLLP TLS.")
    hl7_tls_client_ca: Path | None = Field(
        default=None, description="PEM CA bundle: MLLP senders must present a certificate it signs."
    )
    hl7_timezone: str = Field(
        default="UTC",
        description="IANA time zone of HL7 v2 times sent without an offset (when MSH-7 has none).",
    )

    # -- Bulk Data $export (fhir_server/bulk/export.py) ------------------------------------------
    export_worker: bool = Field(
        default=True,
        description="Run a $export worker in `medrec serve`. Every process of a database may "
        "run one (jobs are leased, never run twice); at least one must, or exports stay queued.",
    )
    export_dir: Path | None = Field(
        default=None,
        description="Where $export writes its NDJSON files. Unset: <data_dir>/exports. Shared "
        "by every medrec process of a database, like the database itself.",
    )
    export_part_bytes: int = Field(
        default=64 * 1024 * 1024, ge=1024, description="Largest $export NDJSON file, in bytes."
    )
    export_poll_s: float = Field(
        default=1.0, gt=0, description="How often an idle $export worker looks for new jobs."
    )

    # -- Scan ingestion (ingestion/jobs.py, ingestion/scans/) -----------------------------------
    scan_key: str | None = Field(
        default=None,
        description="AES-256 key (32 bytes, base64) that encrypts stored scans. Unset: one is "
        "generated into <data_dir>/scan.key on first use (back it up; share it between "
        "processes).",
    )
    ingest_dir: Path | None = Field(
        default=None,
        description="Where uploaded scans are kept while their jobs run. Unset: "
        "<data_dir>/ingest. Shared by every medrec process of a database.",
    )
    ingest_max_bytes: int = Field(
        default=16 * 1024 * 1024,
        ge=1024,
        description="Largest scan file accepted by POST /ingest/scans and medrec ingest "
        "(instead of MEDREC_MAX_BODY_BYTES).",
    )
    ingest_worker: bool = Field(
        default=True,
        description="Run a scan ingestion worker in `medrec serve`. Jobs are leased: any "
        "number of processes may run one; at least one must, or uploads stay queued.",
    )
    ingest_poll_s: float = Field(
        default=2.0, gt=0, description="How often an idle scan ingestion worker looks for jobs."
    )
    ingest_processes: int | None = Field(
        default=None,
        ge=1,
        description="Worker processes that read scanned pages (one Tesseract each) for a scan "
        "ingestion worker or `medrec ingest`. Unset: one per core this process may use.",
    )
    ingest_page_timeout_s: float = Field(
        default=300.0,
        gt=0,
        description="How long a file being read may go without a page coming back before its "
        "reader processes are deemed hung and stopped (the job's attempt fails and is retried).",
    )

    @property
    def ingest_path(self) -> Path:
        return self.ingest_dir if self.ingest_dir is not None else self.data_dir / "ingest"

    @property
    def audit_journal_path(self) -> Path:
        if self.audit_journal_dir is not None:
            return self.audit_journal_dir
        return self.data_dir / "audit-journal"

    @property
    def export_path(self) -> Path:
        return self.export_dir if self.export_dir is not None else self.data_dir / "exports"


def load_settings(**overrides: object) -> Settings:
    return Settings(**overrides)  # type: ignore[arg-type]
