"""Evidence through the API: upload limits, and downloads only through a visible hazard that cites the file."""

import asyncio
import hashlib
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
import pytest_asyncio

from api.main import create_app
from contracts.enums import Role, Source
from contracts.hazard import Actor
from evidence import LocalEvidenceStore
from tests.conftest import ApiStack
from tests.scenarios import AUDITOR, ENTERPRISE, INSPECTOR, REVIEWER, plan, rectification, report
from tests.test_evidence import EXE, png

PROBLEM = "application/problem+json"
LIMIT = 64 * 1024

OTHER_ENTERPRISE = Actor(
    id="ent-777",
    name="张伟",
    role=Role.ENTERPRISE,
    organisation="天津市南开区宏远机械有限公司",
    credit_code="91120104MA05000777",
)


@dataclass
class EvidenceApi:
    api: ApiStack
    http: httpx.AsyncClient
    store: LocalEvidenceStore

    async def upload(self, actor: Actor | None, data: bytes, filename: str = "照片.png") -> httpx.Response:
        headers = self.api.auth(actor) if actor else {}
        return await self.http.post("/evidence", files={"file": (filename, data, "image/png")}, headers=headers)

    async def download(self, actor: Actor, hazard_id: str, sha256: str) -> httpx.Response:
        return await self.http.get(f"/hazards/{hazard_id}/evidence/{sha256}", headers=self.api.auth(actor))

    async def post(self, actor: Actor, path: str, body: Any) -> dict[str, Any]:
        response = await self.http.post(path, json=body, headers=self.api.auth(actor))
        assert response.status_code in (200, 201), response.text
        return dict(response.json())


@pytest_asyncio.fixture(scope="module")
async def evidence_api(api: ApiStack, tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[EvidenceApi]:
    """The API app on the shared stack's settings, worker and database, with a small upload limit."""
    app = create_app(api.settings, process_setup=False)
    store = LocalEvidenceStore(tmp_path_factory.mktemp("evidence"), max_size=LIMIT)
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://api") as http,
    ):
        app.state.evidence_store = store
        yield EvidenceApi(api=api, http=http, store=store)


async def uploaded(evidence: EvidenceApi, actor: Actor = ENTERPRISE) -> tuple[bytes, str]:
    data = png()
    response = await evidence.upload(actor, data)
    assert response.status_code == 201, response.text
    return data, response.json()["ref"]


async def hazard_in_rectify(evidence: EvidenceApi) -> str:
    body = report(Source.SELF_INSPECTION).model_dump(mode="json", exclude_none=True)
    hazard_id = str((await evidence.post(ENTERPRISE, "/hazards", body))["hazard_id"])
    await evidence.post(ENTERPRISE, f"/hazards/{hazard_id}/plan", plan().model_dump(mode="json"))
    await evidence.post(ENTERPRISE, f"/hazards/{hazard_id}/interim-controls", {"kind": "cordon", "measures": "警戒"})
    return hazard_id


async def report_rectification(evidence: EvidenceApi, hazard_id: str, *refs: str) -> None:
    body = rectification().model_copy(update={"evidence": list(refs)}).model_dump(mode="json")
    result = await evidence.post(ENTERPRISE, f"/hazards/{hazard_id}/rectification", body)
    assert result["state"]["stage"] == "REVIEW"


def assert_problem(response: httpx.Response, status: int, code: str) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == PROBLEM
    problem = dict(response.json())
    assert problem["code"] == code
    return problem


async def test_upload_answers_the_hash_and_the_same_bytes_again_answer_it_unchanged(
    evidence_api: EvidenceApi,
) -> None:
    data = png()
    sha256 = hashlib.sha256(data).hexdigest()

    first = await evidence_api.upload(ENTERPRISE, data, "../整改后.png")
    again = await evidence_api.upload(ENTERPRISE, data, "整改后-副本.png")

    assert first.status_code == 201, first.text
    assert first.json() == {
        "sha256": sha256,
        "ref": f"sha256:{sha256}",
        "filename": "整改后.png",
        "content_type": "image/png",
        "size": len(data),
    }
    assert again.status_code == 200
    assert again.json()["sha256"] == sha256
    assert evidence_api.store.exists(sha256)


async def test_an_upload_over_the_limit_is_413(evidence_api: EvidenceApi) -> None:
    oversize = png() + b"\x00" * LIMIT
    problem = assert_problem(await evidence_api.upload(ENTERPRISE, oversize), 413, "EvidenceTooLarge")
    assert problem["max_bytes"] == LIMIT
    assert not evidence_api.store.exists(hashlib.sha256(oversize).hexdigest())


async def test_the_limit_stops_the_upload_while_it_streams(evidence_api: EvidenceApi) -> None:
    boundary = "evidence-boundary"
    sent = 0

    async def endless() -> AsyncIterator[bytes]:
        nonlocal sent
        yield (
            f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="huge.png"\r\n'
            "Content-Type: image/png\r\n\r\n"
        ).encode()
        yield png()
        while sent < 1024 * 1024 * 1024:  # a gigabyte, unless the server stops asking
            sent += 16 * 1024
            yield b"\x00" * (16 * 1024)

    response = await evidence_api.http.post(
        "/evidence",
        content=endless(),
        headers={"Content-Type": f"multipart/form-data; boundary={boundary}", **evidence_api.api.auth(ENTERPRISE)},
    )

    assert_problem(response, 413, "EvidenceTooLarge")
    assert sent <= LIMIT + 32 * 1024


@pytest.mark.parametrize(
    ("data", "filename"),
    [(b"not a picture at all\n", "照片.png"), (EXE, "setup.exe"), (EXE, "照片.png")],
)
async def test_anything_but_allowed_content_is_415(evidence_api: EvidenceApi, data: bytes, filename: str) -> None:
    problem = assert_problem(await evidence_api.upload(ENTERPRISE, data, filename), 415, "EvidenceTypeNotAllowed")
    assert "PDF" in problem["detail"]


async def test_a_picture_named_as_a_pdf_is_415(evidence_api: EvidenceApi) -> None:
    problem = assert_problem(
        await evidence_api.upload(ENTERPRISE, png(), "验收报告.pdf"), 415, "EvidenceTypeNotAllowed"
    )
    assert problem["detail"] == "文件内容是PNG 图片，与文件扩展名 .pdf 不符"


async def test_a_body_that_is_not_multipart_is_415(evidence_api: EvidenceApi) -> None:
    response = await evidence_api.http.post("/evidence", json={"file": "x"}, headers=evidence_api.api.auth(ENTERPRISE))
    assert_problem(response, 415, "NotMultipart")


async def test_empty_missing_or_cut_off_files_are_422(evidence_api: EvidenceApi) -> None:
    empty = assert_problem(await evidence_api.upload(ENTERPRISE, b""), 422, "EvidenceEmpty")
    assert empty["errors"] == [{"field": "file", "message": "文件为空"}]

    no_file = await evidence_api.http.post(
        "/evidence", files={"photo": ("a.png", png(), "image/png")}, headers=evidence_api.api.auth(ENTERPRISE)
    )
    assert assert_problem(no_file, 422, "InvalidPayload")["errors"] == [{"field": "file", "message": "必填"}]

    boundary = "cut-off"
    cut_off = await evidence_api.http.post(
        "/evidence",
        content=f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="a.png"\r\n\r\n'.encode()
        + png(),
        headers={"Content-Type": f"multipart/form-data; boundary={boundary}", **evidence_api.api.auth(ENTERPRISE)},
    )
    assert "不完整" in assert_problem(cut_off, 422, "InvalidPayload")["detail"]


async def test_uploads_need_a_token_and_a_role_that_reports(evidence_api: EvidenceApi) -> None:
    assert_problem(await evidence_api.upload(None, png()), 401, "Unauthenticated")
    assert_problem(await evidence_api.upload(AUDITOR, png()), 403, "RoleForbidden")
    assert (await evidence_api.upload(INSPECTOR, png())).status_code == 201


async def test_evidence_a_rectification_cites_downloads_exactly(evidence_api: EvidenceApi) -> None:
    data, ref = await uploaded(evidence_api)
    sha256 = ref.removeprefix("sha256:")
    hazard_id = await hazard_in_rectify(evidence_api)
    await report_rectification(evidence_api, hazard_id, ref)

    for actor in (ENTERPRISE, REVIEWER, AUDITOR):
        response = await evidence_api.download(actor, hazard_id, sha256)
        assert response.status_code == 200, response.text
        assert response.content == data
        assert response.headers["content-type"] == "image/png"
        assert response.headers["etag"] == f'"{sha256}"'
        assert "filename*=UTF-8''%E7%85%A7%E7%89%87.png" in response.headers["content-disposition"]


async def test_evidence_of_a_rectification_sent_back_stays_downloadable(evidence_api: EvidenceApi) -> None:
    first_data, first = await uploaded(evidence_api)
    _, second = await uploaded(evidence_api)
    hazard_id = await hazard_in_rectify(evidence_api)
    await report_rectification(evidence_api, hazard_id, first)
    await evidence_api.post(REVIEWER, f"/hazards/{hazard_id}/review", {"decision": "reject", "opinion": "照片不清"})
    await report_rectification(evidence_api, hazard_id, second)

    response = await evidence_api.download(REVIEWER, hazard_id, first.removeprefix("sha256:"))
    assert response.status_code == 200, response.text
    assert response.content == first_data


async def test_evidence_of_a_hazard_rectified_on_the_spot_downloads(evidence_api: EvidenceApi) -> None:
    data, ref = await uploaded(evidence_api, INSPECTOR)
    body = report(Source.INSPECTION, on_spot=True).model_dump(mode="json", exclude_none=True)
    body["rectified_on_spot"]["evidence"] = [ref]
    hazard_id = (await evidence_api.post(INSPECTOR, "/hazards", body))["hazard_id"]

    response = await evidence_api.download(INSPECTOR, hazard_id, ref.removeprefix("sha256:"))
    assert response.status_code == 200, response.text
    assert response.content == data


async def test_anything_but_a_visible_hazard_citing_the_file_is_404(evidence_api: EvidenceApi) -> None:
    _, ref = await uploaded(evidence_api)
    _, uncited = await uploaded(evidence_api)
    sha256 = ref.removeprefix("sha256:")
    hazard_id = await hazard_in_rectify(evidence_api)
    await report_rectification(evidence_api, hazard_id, ref)

    # Stored, but this hazard does not cite it: knowing a hash opens nothing.
    assert_problem(
        await evidence_api.download(ENTERPRISE, hazard_id, uncited.removeprefix("sha256:")), 404, "EvidenceNotFound"
    )
    assert_problem(await evidence_api.download(ENTERPRISE, hazard_id, "not-a-hash"), 404, "EvidenceNotFound")
    # Outside the caller's jurisdiction answers exactly as a hazard that does not exist.
    outside = assert_problem(await evidence_api.download(OTHER_ENTERPRISE, hazard_id, sha256), 404, "HazardNotFound")
    missing = assert_problem(
        await evidence_api.download(ENTERPRISE, "120104-1999-99999", sha256), 404, "HazardNotFound"
    )
    assert outside["title"] == missing["title"]


async def test_a_cited_file_missing_from_the_store_is_404(evidence_api: EvidenceApi) -> None:
    sha256 = hashlib.sha256(uuid.uuid4().bytes).hexdigest()
    hazard_id = await hazard_in_rectify(evidence_api)
    await report_rectification(evidence_api, hazard_id, f"sha256:{sha256}")
    assert_problem(await evidence_api.download(ENTERPRISE, hazard_id, sha256), 404, "EvidenceNotFound")


async def test_a_corrupted_file_is_500_and_none_of_it_is_sent(evidence_api: EvidenceApi) -> None:
    _, ref = await uploaded(evidence_api)
    sha256 = ref.removeprefix("sha256:")
    hazard_id = await hazard_in_rectify(evidence_api)
    await report_rectification(evidence_api, hazard_id, ref)
    tampered = b"\x89PNG\r\n\x1a\n" + b"TAMPERED-" * 100
    await asyncio.to_thread(evidence_api.store.path(sha256).write_bytes, tampered)

    response = await evidence_api.download(ENTERPRISE, hazard_id, sha256)

    problem = assert_problem(response, 500, "EvidenceCorrupted")
    assert "损坏" in problem["detail"]
    assert b"TAMPERED" not in response.content
