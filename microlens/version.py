"""The microlens version (one place; the package root and every report read it here)."""

__version__ = "0.1.0"
