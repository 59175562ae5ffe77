"""Releasing a playbook change: what it would do to the bank, seen before it goes live."""
