"""Adapters from real public bank datasets into the contract (``kequn adapt``)."""
