"""Kequn (客群): customer-operations engine and workbench for retail banks."""

__version__ = "0.1.0"
