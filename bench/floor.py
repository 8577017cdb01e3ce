"""The floor: the least a Temporal workflow can cost for the same conversation as a hazard's lifecycle. It is
opened by an update-with-start and takes the same number of updates, each running one trivial activity, and ends
after the last one.

The activity is local by default, as the hazard workflow's own activities are. A step may ask for a regular
(task-queue) activity instead: the floor as issue 7 measured it ("8 updates with one trivial activity each, about
220 ms of server CPU and 100 ms of worker CPU per hazard"), which bench.lifecycle runs beside the local one."""

from datetime import timedelta

from pydantic import BaseModel
from temporalio import activity, workflow

FLOOR_WORKFLOW = "BenchFloor"


class FloorStep(BaseModel):
    n: int
    last: bool = False
    # False: the activity goes through the task queue, a round trip of the server's more per update.
    local: bool = True


@activity.defn(name="bench_noop")
def noop(step: FloorStep) -> int:
    return step.n


# Outside the sandbox, as the hazard workflow runs: the floor must not carry a cost the hazard does not.
@workflow.defn(name=FLOOR_WORKFLOW, sandboxed=False)
class FloorWorkflow:
    @workflow.init
    def __init__(self, steps: int) -> None:
        self._done = False

    @workflow.run
    async def run(self, steps: int) -> int:
        await workflow.wait_condition(lambda: self._done and workflow.all_handlers_finished())
        return steps

    @workflow.update
    async def step(self, step: FloorStep) -> int:
        timeout = timedelta(seconds=10)
        result: int = await (
            workflow.execute_local_activity(noop, step, start_to_close_timeout=timeout)
            if step.local
            else workflow.execute_activity(noop, step, start_to_close_timeout=timeout)
        )
        self._done = step.last
        return result
