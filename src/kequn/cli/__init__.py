"""The ``kequn`` command line (top layer)."""
