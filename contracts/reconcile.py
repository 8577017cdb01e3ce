"""The read-model reconciler's contract: names, its input and its report, shared by CLI, worker and schedule.

Temporal is the source of truth; the reconciler compares every hazard workflow with its read-model rows and
repairs what drifted through the projection's own writer (readmodel/reconcile.py says how).
"""

from enum import StrEnum

from pydantic import AwareDatetime, Field

from contracts.base import Model

RECONCILE_WORKFLOW_NAME = "ReconcileReadModelWorkflow"
RECONCILE_ACTIVITY = "reconcile_read_model"
RECONCILE_SCHEDULE_ID = "reconcile-read-model"
# Nightly, Beijing time, when no rung fires (letters go out in office hours) and few people act. Each open
# hazard not in the worker's cache is replayed to answer its query: about 0.1 s of worker CPU each, measured on
# this machine kind (300 open hazards: 31 s CPU cold, 4 s warm), so 10,000 open hazards cost some 15 CPU-minutes
# a run: fine once a night, too much once an hour. Closed hazards are read from their result, no replay.
RECONCILE_HOUR = 2
# A report names at most this many findings (their counts stay complete): it travels as a Temporal payload.
MAX_FINDINGS = 500


class DriftKind(StrEnum):
    MISSING_ROW = "missing_row"  # the workflow exists, its hazard row does not
    STALE_ROW = "stale_row"  # the row holds an older version than the workflow
    CORRUPTED_ROW = "corrupted_row"  # same version, other content (or a version ahead of the workflow)
    MISSING_EVENT = "missing_event"
    CORRUPTED_EVENT = "corrupted_event"
    EXTRA_EVENT = "extra_event"  # an event row the workflow never recorded
    MISSING_ESCALATION = "missing_escalation"
    CORRUPTED_ESCALATION = "corrupted_escalation"
    # The last serial handed out for a district and year is behind an id Temporal holds (a read model restored
    # or lost): the next report would be given a live hazard's id. Reported under the id's prefix.
    SERIAL_BEHIND = "serial_behind"
    # Kept, only reported: an escalation row is an issued document with its 文号 and notification.
    EXTRA_ESCALATION = "extra_escalation"
    # Rows of a hazard that has no workflow and cannot have outlived it: reported, deleted only on request.
    ORPHAN = "orphan"
    # Rows of a closed hazard whose workflow is past the namespace's retention: the only copy left, kept.
    EXPIRED = "expired"


# What the reconciler mends by itself; the other kinds are reported and left for a person to judge.
HEALABLE = frozenset(
    {
        DriftKind.MISSING_ROW,
        DriftKind.STALE_ROW,
        DriftKind.CORRUPTED_ROW,
        DriftKind.MISSING_EVENT,
        DriftKind.CORRUPTED_EVENT,
        DriftKind.EXTRA_EVENT,
        DriftKind.MISSING_ESCALATION,
        DriftKind.CORRUPTED_ESCALATION,
        DriftKind.SERIAL_BEHIND,
    }
)


class ReconcileInput(Model):
    dry_run: bool = Field(default=False, description="report only, write nothing")
    # Rewrite every hazard's rows from its workflow whether or not they drifted (rebuild-read-model).
    rebuild: bool = False
    # Also compare every hazard's event rows field by field (its events are read from the workflow: a replay
    # for any not in the worker's cache). Without it, event rows are checked by sequence number, and read in
    # full only for hazards that look drifted.
    deep: bool = False
    delete_orphans: bool = Field(default=False, description="delete the rows of hazards that have no workflow")
    concurrency: int = Field(default=8, ge=1, le=64)
    # How long a suspected drift is left to settle before it is checked again and healed: a projection
    # write in flight looks like drift for a few milliseconds.
    settle_seconds: float = Field(default=2.0, ge=0, le=60)


class Finding(Model):
    hazard_id: str
    kind: DriftKind
    count: int = 1
    detail: str = ""
    healed: bool = False


class ReconcileReport(Model):
    started_at: AwareDatetime
    finished_at: AwareDatetime
    dry_run: bool
    rebuild: bool
    workflows: int = Field(description="hazard workflows found in Temporal")
    rows: int = Field(description="hazard ids found in the read model")
    found: dict[DriftKind, int] = Field(default_factory=dict)
    healed: dict[DriftKind, int] = Field(default_factory=dict)
    rewritten: int = Field(default=0, description="hazards rewritten from their workflow (rebuild)")
    findings: list[Finding] = Field(default_factory=list, description=f"the first {MAX_FINDINGS}")
    errors: list[str] = Field(default_factory=list, description="hazards that could not be checked, and why")

    @property
    def drift(self) -> int:
        """Drift the reconciler mends by itself, found in this run."""
        return sum(n for kind, n in self.found.items() if kind in HEALABLE)

    @property
    def unhealed(self) -> int:
        """Healable drift left as it was (a dry run, or a newer write that won the race)."""
        return self.drift - sum(n for kind, n in self.healed.items() if kind in HEALABLE)
