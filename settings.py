"""Process settings from the environment (prefix XIAOHAO_, or the usual DATABASE_URL). Entry points only."""

from pathlib import Path

from pydantic import AliasChoices, Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="XIAOHAO_", extra="ignore", populate_by_name=True)

    data_dir: Path = Path("data")
    temporal_address: str = "localhost:7233"
    temporal_namespace: str = "xiaohao"
    database_url: str = Field(
        default="sqlite:///data/readmodel.db",
        validation_alias=AliasChoices("DATABASE_URL", "XIAOHAO_DATABASE_URL"),
    )
    # 行政区划代码 of the district the service runs for; the prefix of every hazard id.
    district_code: str = "120104"
    # Its name, as ledgers and letters title it.
    district_name: str = "南开区"
    jwt_secret: str | None = Field(default=None, description="HS256 key; the embedded stack keeps one in data/")
    jwt_issuer: str = "xiaohao"
    jwt_audience: str = "xiaohao-api"
    # Tokens from a government identity platform (OIDC) instead: its JWKS URL (https), with jwt_issuer and
    # jwt_audience set to the platform's issuer and this API's audience. Unset: the embedded stack signs its own.
    jwt_jwks_url: str | None = None
    # Our claim -> the platform's name for it, e.g. {"org": "dept_name"} (as JSON in the environment).
    jwt_claim_names: dict[str, str] = Field(default_factory=dict)
    # Who issues the automatic letters, and the prefix of their 文号 (南开安委办函〔2027〕3号).
    issuer_name: str = "南开区安全生产委员会办公室"
    doc_number_prefix: str = "南开安委办"
    # Notifications (escalations, reminders) are POSTed here from the outbox; unset keeps them queued.
    webhook_url: str | None = None
    # The worker's Prometheus endpoints: our own metrics, and the Temporal SDK's (workflow task latency, pollers,
    # sticky cache...). worker_metrics_port=0 turns both off, worker_sdk_metrics_port=0 the SDK's alone; two
    # workers on one host need ports of their own. The host is 0.0.0.0 in a container, for Prometheus to reach.
    worker_metrics_port: int | None = 9464
    worker_sdk_metrics_port: int | None = 9465
    worker_metrics_host: str = "127.0.0.1"
    # AES-256 key (base64) sealing every payload Temporal stores; the embedded stack keeps one in data/.
    payload_key: str | None = None
    # 佐证材料 uploads: larger files are refused (413) while they stream in.
    evidence_max_bytes: int = 20 * 1024 * 1024
    # 佐证材料 in S3 (or an S3-compatible store) when a bucket is set; credentials from the standard AWS variables.
    evidence_s3_bucket: str | None = None
    evidence_s3_endpoint_url: str | None = None
    evidence_s3_region: str | None = None
    evidence_s3_prefix: str = "evidence/"
    # Chain-head checkpoints of the audit trail, best kept on other storage than the database.
    audit_checkpoint_path: Path | None = None
    audit_checkpoint_every: int = Field(default=100, ge=1)
    # X-Forwarded-For is believed only from these addresses (a load balancer's).
    trusted_proxies: list[str] = Field(default_factory=list)
    api_host: str = "127.0.0.1"
    api_port: int = 8000
    log_json: bool | None = None

    @property
    def jwt_secret_file(self) -> Path:
        return self.data_dir / "jwt-secret"

    @property
    def payload_key_file(self) -> Path:
        return self.data_dir / "payload-key"
