"""Objects whose value is their ``get_config()`` (losses, metrics): equality, hashing and
repr from it, so two objects built with the same arguments compare equal."""
from __future__ import annotations


class ConfigValue:
    def get_config(self) -> dict:
        return {}

    def __eq__(self, other):
        return type(self) is type(other) and self.get_config() == other.get_config()

    def __hash__(self):
        return hash((type(self).__name__, tuple(sorted(self.get_config().items()))))

    def __repr__(self):
        args = ", ".join(f"{k}={v!r}" for k, v in self.get_config().items())
        return f"{type(self).__name__}({args})"
