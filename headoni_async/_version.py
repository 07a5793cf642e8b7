"""The package version, in one place (``__version__`` and the User-Agent)."""

VERSION = "0.1.0"
