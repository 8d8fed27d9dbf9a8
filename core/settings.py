"""One Settings object for the whole process, read from `TI_*` environment variables (and `.env`)."""

from functools import lru_cache
from pathlib import Path
from typing import Annotated, Literal

from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

PROJECT_ROOT = Path(__file__).resolve().parent.parent


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="TI_", env_file=".env", extra="ignore")

    env: Literal["development", "test", "production"] = "development"
    # Demo mode seeds the demo people, clients and content listed in the README; never on in production.
    demo: bool = False

    database_url: str = f"sqlite+aiosqlite:///{PROJECT_ROOT / 'var' / 'talent-island.db'}"
    # Connections are kept, not churned: an overflow connection is opened and closed again under load, and a new
    # PostgreSQL connection costs a backend fork. Size the pool for the concurrency one process really has.
    db_pool_size: int = Field(default=20, ge=1)
    db_max_overflow: int = Field(default=0, ge=0)
    db_connect_timeout: float = Field(default=5.0, gt=0)
    db_echo: bool = False
    # Shared state (rate limits, revocation list) lives in Redis when set, in process memory otherwise.
    redis_url: str | None = None

    # The Ed25519 key that signs audit checkpoints: a file outside the database (created on first use outside
    # production).
    audit_key_file: Path = PROJECT_ROOT / "var" / "keys" / "audit-ed25519.pem"
    # Retired checkpoint keys (base64url raw Ed25519 public keys) whose old checkpoints must still verify.
    audit_retired_public_keys: Annotated[list[str], NoDecode] = []
    audit_checkpoint_every: int = Field(default=1000, ge=1)
    audit_checkpoint_minutes: int = Field(default=60, ge=1)
    # Chain audit entries from a background task in this process (PostgreSQL; see core/audit/chain.py).
    audit_sequencer: bool = True

    # AES-GCM and lookup-hash keys for personal data at rest (a file outside the database).
    data_key_file: Path = PROJECT_ROOT / "var" / "keys" / "data.key"

    # The externally visible origin: the OAuth issuer, and the base of every absolute link we hand out.
    public_base_url: str = "http://127.0.0.1:8000"

    # OAuth2 / OIDC lifetimes, in seconds.
    access_token_ttl: int = Field(default=600, ge=60, le=3600)
    id_token_ttl: int = Field(default=600, ge=60)
    authorization_code_ttl: int = Field(default=60, ge=10, le=60)
    refresh_token_idle_ttl: int = Field(default=7 * 86400, ge=300)
    refresh_token_absolute_ttl: int = Field(default=30 * 86400, ge=300)
    login_session_ttl: int = Field(default=12 * 3600, ge=300)
    signing_key_rotation_days: int = Field(default=90, ge=1)

    # Password hashes computed at once per process (argon2id is memory-hard; more in parallel than cores is slower).
    password_hash_slots: int = Field(default=1, ge=1)

    # Rate limits: (requests, window seconds). Brute-force limits are deliberately low.
    login_failures_per_account: tuple[int, int] = (5, 900)
    login_attempts_per_address: tuple[int, int] = (30, 900)
    token_requests_per_client: tuple[int, int] = (600, 60)
    token_requests_per_address: tuple[int, int] = (600, 60)
    api_requests_per_caller: tuple[int, int] = (1200, 60)
    signups_per_address: tuple[int, int] = (10, 3600)
    # One-time codes sent by SMS (sign-up, password reset): their lifetime, and how often one phone number (whichever
    # purpose) and one address may have one sent. Per phone as the cloud's SMS service limits a number by default: 1
    # a minute, 5 an hour, 10 a day. Resets (code + new password) per address, like sign-ups.
    phone_code_ttl: int = Field(default=600, ge=300, le=600)
    phone_code_resend_seconds: int = Field(default=60, ge=0)
    phone_codes_per_phone: list[tuple[int, int]] = [(5, 3600), (10, 86400)]
    phone_codes_per_address: tuple[int, int] = (20, 3600)
    password_resets_per_address: tuple[int, int] = (10, 3600)
    cors_origins: Annotated[list[str], NoDecode] = []
    max_body_bytes: int = Field(default=1_048_576, ge=1024)

    # When set, /metrics requires `Authorization: Bearer <token>`. Required in production: the metrics show request
    # counts per route and status, outbox lag, dead letters and breaker state, which are nobody's business outside.
    metrics_token: str | None = None

    # The government cloud (TC3-HMAC-SHA256 signed API). No base URL: the mock cloud runs in-process and is served
    # under /mock-cloud (the embedded default; refused in production).
    cloud_base_url: str | None = None
    cloud_region: str = "ap-guangzhou"
    cloud_secret_id: str = "AKIDTalentIslandDevelopment0001"  # noqa: S105 (an id, not a secret)
    cloud_secret_key: SecretStr = SecretStr("development-only-cloud-secret-key")
    # The pair the cloud signs its callbacks to us with (the same TC3 scheme, service `callback`).
    cloud_callback_secret_id: str = "AKIDTalentIslandCallbacks00001"  # noqa: S105 (an id, not a secret)
    cloud_callback_secret_key: SecretStr = SecretStr("development-only-callback-secret-key")
    cloud_bucket: str = "talent-island-documents"
    cloud_timeout: float = Field(default=5.0, gt=0, description="seconds per attempt")
    cloud_max_attempts: int = Field(default=3, ge=1, le=10)
    cloud_backoff: float = Field(default=0.2, ge=0, description="first retry delay in seconds, doubled each time")
    cloud_breaker_failures: int = Field(default=5, ge=1, description="consecutive failures that open a breaker")
    cloud_breaker_reset: float = Field(default=30.0, gt=0, description="seconds an open breaker fails fast")
    # The in-process mock: where it keeps uploaded objects, and faults to inject (JSON, see README).
    cloud_mock_dir: Path = PROJECT_ROOT / "var" / "mock-cloud"
    cloud_mock_faults: dict[str, dict[str, float]] = {}
    upload_url_ttl: int = Field(default=900, ge=60, le=3600)

    # The worker (python main.py worker): events claimed per batch, lease, attempts before dead, first retry delay.
    worker_batch_size: int = Field(default=50, ge=1, le=1000)
    worker_lease_seconds: float = Field(default=60.0, gt=0)
    worker_max_attempts: int = Field(default=8, ge=1, le=50)
    worker_backoff_seconds: float = Field(default=2.0, ge=0)
    worker_poll_seconds: float = Field(default=0.5, gt=0)
    # The embedded default (make run): each app process also runs a worker; production runs workers on their own.
    worker_in_app: bool = False
    # Once started, move everything loaded so far (modules, routes, schemas, metadata: the bulk of the heap, and never
    # garbage) out of the garbage collector's sight, so a full collection scans only what requests made since. Off in
    # the test suite, whose one process starts many apps.
    freeze_startup_heap: bool = True
    # Test-only: lets webhooks reach receivers on loopback (plain http). Never in production.
    webhook_allow_loopback: bool = False
    # Seconds before each retry of a failed webhook delivery, the last repeated (a JSON list). The worker's other
    # events keep its short exponential backoff; a partner's receiver may be down for hours (a restart, a deploy, a
    # weekend), so deliveries follow Svix's schedule: with TI_WORKER_MAX_ATTEMPTS at 8, eight attempts over ~27.5 hours
    # (5 s, 5 min, 30 min, 2 h, 5 h, 10 h, 10 h). A receiver whose breaker refuses a delivery is waited for, the
    # attempt not counted, until as long again has passed since the delivery was queued.
    webhook_retry_seconds: list[Annotated[float, Field(ge=0)]] = Field(
        default=[5, 300, 1800, 7200, 18000, 36000, 36000], min_length=1
    )

    log_level: str = "INFO"
    log_json: bool = True
    access_log: bool = True

    host: str = "127.0.0.1"
    port: int = 8000
    workers: int = Field(default=1, ge=1)

    @field_validator("cors_origins", "audit_retired_public_keys", mode="before")
    @classmethod
    def _split_origins(cls, value: object) -> object:
        if isinstance(value, str):
            return [origin.strip() for origin in value.split(",") if origin.strip()]
        return value

    @model_validator(mode="after")
    def _production_needs_real_parts(self) -> "Settings":
        if self.is_production:
            if self.webhook_allow_loopback:
                raise ValueError("TI_WEBHOOK_ALLOW_LOOPBACK is a test setting; never in production")
            if self.cloud_base_url is None:
                raise ValueError("production needs TI_CLOUD_BASE_URL (the in-process mock cloud is for development)")
            if "development-only" in self.cloud_secret_key.get_secret_value() + (
                self.cloud_callback_secret_key.get_secret_value()
            ):
                raise ValueError("production needs real TI_CLOUD_SECRET_KEY and TI_CLOUD_CALLBACK_SECRET_KEY")
            # An unset (or blank) token would leave /metrics open to anyone who reaches the process.
            if not (self.metrics_token or "").strip():
                raise ValueError("production needs TI_METRICS_TOKEN (/metrics is never open in production)")
        return self

    @property
    def cloud_public_base_url(self) -> str:
        """Where people's browsers reach the cloud (presigned upload / download and payment pages)."""
        return (self.cloud_base_url or f"{self.issuer}/mock-cloud").rstrip("/")

    @property
    def issuer(self) -> str:
        return self.public_base_url.rstrip("/")

    @property
    def api_audience(self) -> str:
        """The `aud` of access tokens for this API (RFC 9068 resource indicator)."""
        return f"{self.issuer}/api"

    @property
    def is_sqlite(self) -> bool:
        return self.database_url.startswith("sqlite")

    @property
    def is_production(self) -> bool:
        return self.env == "production"


@lru_cache
def get_settings() -> Settings:
    """The process-wide settings, read once from the environment."""
    return Settings()
