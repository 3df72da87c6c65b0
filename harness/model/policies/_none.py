"""`none`: first-touch placement, no promotion."""

from harness.model.policies._base import Policy


class NonePolicy(Policy):
    name = "none"

    def start(self, sim) -> None:
        pass
