"""Phone numbers never reach Temporal's history or search attributes in clear, nor the logs."""

import re

import pytest
from temporalio.client import Client
from temporalio.contrib.pydantic import pydantic_data_converter

from contracts.hazard import workflow_id
from tests.conftest import ApiStack
from tests.scenarios import AUDITOR, ENTERPRISE, STREET, plan, report
from tests.test_api import post

# A mobile number standing alone, not a run of digits inside an id: a history is full of UUIDs and base64, and a
# run once failed on 12831728565, a number no test sends.
PHONE = re.compile(r"(?<![0-9A-Za-z])1\d{10}(?![0-9A-Za-z])")


async def test_no_phone_in_history_search_attributes_or_logs(api: ApiStack, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level("DEBUG")
    hazard = (await post(api, "/hazards", ENTERPRISE, report().model_dump(mode="json", exclude_none=True))).json()
    hazard_id = hazard["hazard_id"]
    assert hazard["report"]["enterprise"]["principal_phone"] == "13800000000"  # the service itself has it
    assert (
        await post(api, f"/hazards/{hazard_id}/plan", ENTERPRISE, plan().model_dump(mode="json"))
    ).status_code == 200

    # Read as anyone with access to Temporal but not to the key would: no codec.
    outsider = await Client.connect(
        api.temporal.service_client.config.target_host,
        namespace=api.temporal.namespace,
        data_converter=pydantic_data_converter,
    )
    handle = outsider.get_workflow_handle(workflow_id(hazard_id))
    history = (await handle.fetch_history()).to_json()
    assert "13800000000" not in history
    assert PHONE.search(history) is None
    assert "王顶堤街道" not in history  # the payloads are sealed whole, not just the phone fields
    described = await handle.describe()
    assert PHONE.search(str(described.typed_search_attributes)) is None
    assert PHONE.search(caplog.text) is None


async def test_roles_that_do_not_call_the_enterprise_see_masked_phones(api: ApiStack) -> None:
    hazard_id = (await post(api, "/hazards", ENTERPRISE, report().model_dump(mode="json", exclude_none=True))).json()[
        "hazard_id"
    ]
    await post(api, f"/hazards/{hazard_id}/plan", ENTERPRISE, plan().model_dump(mode="json"))
    for actor in (STREET, AUDITOR):
        state = (await api.http.get(f"/hazards/{hazard_id}", headers=api.auth(actor))).json()
        assert state["report"]["enterprise"]["principal_phone"] == "138****0000"
        assert state["plan"]["responsible_phone"] == "138****0000"
    own = (await api.http.get(f"/hazards/{hazard_id}", headers=api.auth(ENTERPRISE))).json()
    assert own["report"]["enterprise"]["principal_phone"] == "13800000000"
