"""Typed settings read from the environment, failing fast on bad values.

One small reader in the manner of Starlette's ``Config``: every setting the project takes from the
environment is read here, converted once, and an unparsable value stops start-up with a message
that names the variable.
"""

from __future__ import annotations

import os
from collections.abc import Mapping


class ImproperlyConfiguredError(RuntimeError):
    """Raised at start-up when an environment variable holds a value we cannot use."""


_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off"}


class Config:
    def __init__(self, environ: Mapping[str, str] | None = None) -> None:
        self._environ = os.environ if environ is None else environ

    def is_set(self, name: str) -> bool:
        return bool(self._environ.get(name, "").strip())

    def get_str(self, name: str, default: str = "") -> str:
        value = self._environ.get(name)
        return default if value is None or value.strip() == "" else value.strip()

    def get_bool(self, name: str, default: bool = False) -> bool:
        raw = self._environ.get(name)
        if raw is None or raw.strip() == "":
            # Like the other readers: an empty value (``VAR=`` in compose) means "use the default".
            return default
        lowered = raw.strip().lower()
        if lowered in _TRUE:
            return True
        if lowered in _FALSE:
            return False
        raise ImproperlyConfiguredError(f"{name} must be a boolean (true/false), got {raw!r}")

    def get_int(self, name: str, default: int) -> int:
        raw = self._environ.get(name)
        if raw is None or raw.strip() == "":
            return default
        try:
            return int(raw)
        except ValueError:
            raise ImproperlyConfiguredError(f"{name} must be an integer, got {raw!r}") from None

    def get_list(self, name: str, default: list[str] | None = None) -> list[str]:
        raw = self._environ.get(name)
        if raw is None or raw.strip() == "":
            return list(default or [])
        return [item.strip() for item in raw.split(",") if item.strip()]

    def get_choice(self, name: str, choices: tuple[str, ...], default: str) -> str:
        value = self.get_str(name, default)
        if value not in choices:
            raise ImproperlyConfiguredError(f"{name} must be one of {', '.join(choices)}, got {value!r}")
        return value
