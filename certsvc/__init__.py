"""certsvc: electronic licence issuance and electronic seal service."""

__all__ = ["__version__"]

__version__ = "0.1.0"
