"""tiersweep: simulate and tune Linux memory-tiering page promotion."""

__version__ = "0.1.0"
