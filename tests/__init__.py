"""tiersweep's tests, laid out like the harness package."""
