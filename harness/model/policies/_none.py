"""`none`: first-touch placement, no promotion."""

from __future__ import annotations

from typing import TYPE_CHECKING

from harness.model.policies._base import Policy

if TYPE_CHECKING:
    from harness.model.engine import Sim


class NonePolicy(Policy):
    name = "none"

    def start(self, sim: Sim) -> None:
        pass
