"""The error every backend raises for settings that cannot work (a bad URL, a bucket that does
not answer). Its own module, below the factory, so a backend can raise it without importing the
factory that imports the backend."""

from __future__ import annotations


class ConfigurationError(RuntimeError):
    """Settings that cannot work; the message says what to fix."""
