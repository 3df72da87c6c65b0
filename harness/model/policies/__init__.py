"""Promotion policies on one engine; add one by subclassing ``Policy``."""

from harness.config import PolicyConfig
from harness.model.policies._base import Policy
from harness.model.policies._damon import DamonTierPolicy
from harness.model.policies._kmmscand import KmmscandPolicy
from harness.model.policies._none import NonePolicy
from harness.model.policies._numab1 import Numab1Hinting
from harness.model.policies._numab2 import Numab2Policy
from harness.model.policies._oracle import OraclePolicy

POLICIES: dict[str, type[Policy]] = {
    "none": NonePolicy,
    "kmmscand": KmmscandPolicy,
    "numab2": Numab2Policy,
    "damon_tier": DamonTierPolicy,
    "oracle": OraclePolicy,
}


def make_policy(cfg: PolicyConfig, policies: dict[str, type[Policy]] = POLICIES,
                numab1: type[Policy] = Numab1Hinting) -> Policy:
    """The run's policy, with numa_balancing=1's hinting beside it when set
    (``policies`` and ``numab1``: the classes, the reference's in its twin)."""
    policy = policies[cfg.kind](cfg)
    if cfg.numa_balancing == 1:
        policy.beside = [numab1(cfg)]
    return policy


__all__ = ["POLICIES", "Numab1Hinting", "Policy", "make_policy"]
