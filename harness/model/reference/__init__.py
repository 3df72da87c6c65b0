"""Per-page reference implementation of the model's page-level rules (tests only).

The vectorized model keeps every per-page decision in a ``_rule_*`` method (and
in a few page helpers of ``Memory`` and of the access models). This module
subclasses each of them and re-states the same rule as a plain Python loop
over pages, in page (or list) order, one decision at a time. Everything else
(event scheduling, per-mm adaptation, failure feedback, costs, metrics) is
inherited, not duplicated.

``simulate(cfg, reference=True)`` runs this implementation; the tests compare
it with the vectorized one. Random draws are made one per page in the same
order as the vectorized code, so both consume the same random stream and a
given seed gives identical results, in rate form too.

Slow by design: use it on a few hundred pages.
"""

from __future__ import annotations

from harness.config import RunConfig
from harness.model.engine import Sim
from harness.model.policies import KmmscandPolicy, Policy, make_policy
from harness.model.reference._access import (
    ReferenceCountsAccess,
    ReferenceRateAccess,
    _as_reference,
)
from harness.model.reference._damon import ReferenceDamonTierPolicy
from harness.model.reference._memory import ReferenceMemory
from harness.model.reference._migrator import ReferenceMigrator
from harness.model.reference._numab1 import ReferenceNumab1Hinting
from harness.model.reference._numab2 import ReferenceNumab2Policy
from harness.model.reference._oracle import ReferenceNonePolicy, ReferenceOraclePolicy
from harness.model.reference._scanner import ReferenceScanner


class ReferenceSim(Sim):
    memory_cls = ReferenceMemory

    def __init__(self, cfg: RunConfig, policy: Policy, layout=None):
        super().__init__(cfg, policy, layout)
        for seg in self.layout.segments:
            seg.access = _as_reference(seg.access)


class ReferenceKmmscandPolicy(KmmscandPolicy):
    scanner_cls = ReferenceScanner
    migrator_cls = ReferenceMigrator


REFERENCE_POLICIES: dict[str, type[Policy]] = {
    "none": ReferenceNonePolicy,
    "kmmscand": ReferenceKmmscandPolicy,
    "numab2": ReferenceNumab2Policy,
    "damon_tier": ReferenceDamonTierPolicy,
    "oracle": ReferenceOraclePolicy,
}


def make_reference_sim(cfg: RunConfig) -> Sim:
    return ReferenceSim(cfg, make_policy(cfg.policy, REFERENCE_POLICIES, ReferenceNumab1Hinting))


__all__ = ["REFERENCE_POLICIES", "ReferenceCountsAccess", "ReferenceKmmscandPolicy", "ReferenceMemory",
           "ReferenceMigrator", "ReferenceNumab2Policy", "ReferenceRateAccess", "ReferenceScanner",
           "ReferenceSim", "make_reference_sim"]
