"""One root for everything Hermes raises on purpose: ``except HermesError`` catches them all.

Each error also keeps its natural base (ValueError for bad input, RuntimeError for a failed operation), so
code written against those keeps working.
"""


class HermesError(Exception):
    """Base class of Hermes' own errors."""
