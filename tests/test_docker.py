"""docker/: the production compose file is valid for `docker compose config` and says what production needs; the
image is multi-stage and runs as non-root. (No Docker engine runs here: the processes themselves are exercised by
the stack and scale-out tests.)"""

import os
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

DOCKER = Path(__file__).resolve().parent.parent / "docker"
COMPOSE = DOCKER / "compose.yaml"
SECRETS = {
    "POSTGRES_PASSWORD": "pg-secret",
    "TEMPORAL_DB_PASSWORD": "temporal-secret",
    "XIAOHAO_DB_PASSWORD": "xiaohao-secret",
    "XIAOHAO_JWT_SECRET": "jwt-secret",
    "XIAOHAO_PAYLOAD_KEY": "cGF5bG9hZC1rZXk=",
    "GRAFANA_ADMIN_PASSWORD": "grafana-secret",
}
LONG_RUNNING = {"postgresql", "temporal", "temporal-ui", "worker", "api", "prometheus", "grafana"}
JOBS = {"temporal-schema", "setup"}


def compose_command() -> list[str]:
    """Compose v2 (`docker compose`) where the plugin is installed, else Debian's docker-compose."""
    if shutil.which("docker") and subprocess.run(["docker", "compose", "version"], capture_output=True).returncode == 0:
        return ["docker", "compose"]
    if shutil.which("docker-compose"):
        return ["docker-compose"]
    raise RuntimeError("docker compose is needed: apt-get install docker-compose (`.ci/run` does it when missing)")


def compose_config(env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    clean = {key: value for key, value in os.environ.items() if key not in SECRETS}
    return subprocess.run(
        [*compose_command(), "-f", str(COMPOSE), "config"],
        env=clean | env,
        capture_output=True,
        text=True,
        check=False,
    )


@pytest.fixture(scope="module")
def config() -> dict[str, Any]:
    result = compose_config(SECRETS)
    assert result.returncode == 0, result.stderr
    loaded: dict[str, Any] = yaml.safe_load(result.stdout)
    return loaded


def test_compose_config_passes_and_holds_the_whole_production_stack(config: dict[str, Any]) -> None:
    assert set(config["services"]) == LONG_RUNNING | JOBS


def test_every_secret_must_be_given() -> None:
    text = COMPOSE.read_text()
    for secret in SECRETS:
        assert f"${{{secret}:?set {secret}" in text, f"{secret} has a default or is not required"
    result = compose_config({key: value for key, value in SECRETS.items() if key != "XIAOHAO_PAYLOAD_KEY"})
    assert result.returncode != 0
    assert "set XIAOHAO_PAYLOAD_KEY" in result.stderr


def test_temporal_runs_on_postgresql_after_its_schema_job_not_auto_setup(config: dict[str, Any]) -> None:
    services = config["services"]
    images = {name: service["image"] for name, service in services.items()}
    assert not any("auto-setup" in image for image in images.values())
    assert images["temporal"].startswith("temporalio/server:")
    assert images["temporal-schema"].startswith("temporalio/admin-tools:")
    temporal = services["temporal"]
    assert temporal["environment"]["DB"] == "postgres12"
    assert temporal["environment"]["POSTGRES_SEEDS"] == "postgresql"
    assert temporal["depends_on"]["temporal-schema"]["condition"] == "service_completed_successfully"
    script = (DOCKER / "temporal" / "setup-schema.sh").read_text()
    for database in ("temporal", "temporal_visibility"):
        assert re.search(rf"--db {database} update-schema", script)


def test_long_running_services_have_health_checks_and_restart(config: dict[str, Any]) -> None:
    for name in LONG_RUNNING:
        service = config["services"][name]
        assert service.get("restart") == "unless-stopped", name
        if name != "temporal-ui":  # the UI image has neither curl nor wget
            assert service["healthcheck"]["test"], name


def test_api_and_worker_share_one_image_and_wait_for_the_set_up_job(config: dict[str, Any]) -> None:
    services = config["services"]
    assert services["api"]["image"] == services["worker"]["image"] == services["setup"]["image"]
    for name in ("api", "worker"):
        assert services[name]["depends_on"]["setup"]["condition"] == "service_completed_successfully"
        env = services[name]["environment"]
        assert env["DATABASE_URL"].startswith("postgresql+psycopg://xiaohao:xiaohao-secret@postgresql:5432/")
        assert env["XIAOHAO_TEMPORAL_ADDRESS"] == "temporal:7233"
        assert env["XIAOHAO_PAYLOAD_KEY"] == SECRETS["XIAOHAO_PAYLOAD_KEY"]
    assert "/readyz" in " ".join(services["api"]["healthcheck"]["test"])


def test_prometheus_and_grafana_mount_the_committed_configuration(config: dict[str, Any]) -> None:
    mounted = {
        name: [volume["source"] if isinstance(volume, dict) else volume.split(":")[0] for volume in service["volumes"]]
        for name, service in config["services"].items()
        if name in ("prometheus", "grafana")
    }
    sources = [Path(source) for sources in mounted.values() for source in sources if source.startswith("/")]
    assert sources, mounted
    for source in sources:
        assert source.exists(), f"{source} is mounted but not in the repository"


def test_the_image_is_multi_stage_non_root_without_build_tools_and_with_cjk_fonts() -> None:
    dockerfile = (DOCKER / "Dockerfile").read_text()
    stages = re.split(r"^FROM ", dockerfile, flags=re.MULTILINE)[1:]
    assert len(stages) == 2
    final = stages[-1]
    assert re.search(r"^USER xiaohao$", final, flags=re.MULTILINE)
    assert "uv" not in re.findall(r"COPY --from=(\S+)", final)
    assert "fonts-noto-cjk" in final
    assert not re.search(r"\b(gcc|build-essential|uv sync)\b", final)
