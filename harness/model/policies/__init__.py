"""Promotion policies on one engine; add one by subclassing ``Policy``."""

from harness.config import PolicyConfig
from harness.model.policies._base import Policy
from harness.model.policies._damon import DamonTierPolicy
from harness.model.policies._kmmscand import KmmscandPolicy
from harness.model.policies._none import NonePolicy
from harness.model.policies._numab2 import Numab2Policy
from harness.model.policies._oracle import OraclePolicy

POLICIES: dict[str, type[Policy]] = {
    "none": NonePolicy,
    "kmmscand": KmmscandPolicy,
    "numab2": Numab2Policy,
    "damon_tier": DamonTierPolicy,
    "oracle": OraclePolicy,
}


def make_policy(cfg: PolicyConfig) -> Policy:
    return POLICIES[cfg.kind](cfg)


__all__ = ["POLICIES", "Policy", "make_policy"]
