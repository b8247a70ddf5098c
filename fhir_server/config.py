"""Settings, read from ``MEDREC_*`` environment variables (and a ``.env`` file if present)."""

from __future__ import annotations

from pathlib import Path

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


def load_settings(**overrides: object) -> Settings:
    return Settings(**overrides)  # type: ignore[arg-type]
