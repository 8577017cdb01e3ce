"""Histories recorded from real runs must replay on today's workflow code: deployed hazards depend on it."""

from datetime import timedelta
from pathlib import Path

import pytest
from temporalio import workflow
from temporalio.client import WorkflowHistory
from temporalio.worker import Replayer

# This module defines a workflow, so the sandbox re-imports it: its imports pass through, as in workflows/.
with workflow.unsafe.imports_passed_through():
    from contracts.hazard import WORKFLOW_NAME, HazardState, ReportHazardInput
    from tests.keys import CONVERTER
    from tests.scenarios import PATHS
    from workflows.hazard import HazardWorkflow

HISTORIES = Path(__file__).parent / "histories"


def history(name: str) -> WorkflowHistory:
    return WorkflowHistory.from_json(f"hazard-REC-{name}", (HISTORIES / f"{name}.json").read_text())


def test_every_path_has_a_recorded_history() -> None:
    assert {p.stem for p in HISTORIES.glob("*.json")} == set(PATHS)


@pytest.mark.parametrize("name", sorted(PATHS))
async def test_history_replays(name: str) -> None:
    replayer = Replayer(workflows=[HazardWorkflow], data_converter=CONVERTER)
    result = await replayer.replay_workflow(history(name))
    assert result.replay_failure is None


@workflow.defn(name=WORKFLOW_NAME)
class ReorderedHazardWorkflow(HazardWorkflow):
    """A deploy that adds a timer before the first projection, without `workflow.patched`."""

    @workflow.run
    async def run(self, input: ReportHazardInput) -> HazardState:
        await workflow.sleep(timedelta(seconds=1))
        return await super().run(input)


async def test_an_incompatible_change_fails_replay() -> None:
    replayer = Replayer(workflows=[ReorderedHazardWorkflow], data_converter=CONVERTER)
    with pytest.raises(workflow.NondeterminismError):
        await replayer.replay_workflow(history("self_report_closed"))
