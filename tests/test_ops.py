"""/readyz and /metrics: what ops probe and scrape."""

import httpx

from api.main import create_app
from tests.conftest import ApiStack
from tests.scenarios import ENTERPRISE, report
from tests.test_api import post


async def test_ready_when_temporal_database_and_migrations_are(api: ApiStack) -> None:
    ready = await api.http.get("/readyz")
    assert ready.status_code == 200
    assert ready.json() == {"status": "ready", "temporal": "ok", "database": "ok", "migrations": "ok"}


async def test_not_ready_names_what_is_missing(api: ApiStack) -> None:
    # An unmigrated database and an unreachable Temporal.
    settings = api.settings.model_copy(
        update={"temporal_address": "127.0.0.1:1", "database_url": f"sqlite:///{api.settings.data_dir}/empty.db"}
    )
    app = create_app(settings, process_setup=False)
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://api") as http,
    ):
        response = await http.get("/readyz")
    assert response.status_code == 503
    assert response.json()["failing"] == ["temporal", "migrations"]


async def test_metrics_count_requests_by_route_and_open_hazards(api: ApiStack) -> None:
    street = "长虹街道"
    body = report().model_copy(update={"street": street}).model_dump(mode="json", exclude_none=True)
    assert (await post(api, "/hazards", ENTERPRISE, body)).status_code == 201
    scraped = await api.http.get("/metrics")
    assert scraped.status_code == 200
    text = scraped.text
    assert 'xiaohao_http_request_duration_seconds_count{method="POST",route="/hazards",status="201"}' in text
    # Route templates, not raw paths: the label set stays bounded.
    assert "120104-2026-" not in text.split("xiaohao_hazards_open")[0]
    assert f'xiaohao_hazards_open{{industry="危险化学品",rag="green",stage="PLAN",street="{street}"}}' in text
