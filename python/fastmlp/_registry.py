"""What the small configurable objects (regularizers, constraints) share: equality and
repr from get_config, and lookup from None, an instance, a name or a saved dict."""
from __future__ import annotations


class Configurable:
    """``from_config``, ``__eq__`` and ``__repr__`` from ``get_config``."""

    def get_config(self) -> dict:
        """Constructor arguments."""
        return {}

    @classmethod
    def from_config(cls, config):
        """``cls(**config)``."""
        return cls(**config)

    def __eq__(self, other):
        return type(self) is type(other) and self.get_config() == other.get_config()

    __hash__ = None  # mutable settings: unhashable, as equal objects must hash alike

    def __repr__(self):
        args = ", ".join(f"{k}={v!r}" for k, v in self.get_config().items())
        return f"{type(self).__name__}({args})"


def resolve(identifier, name, base, by_name, classes, expected):
    """None or a ``base`` instance as is; a name of ``by_name`` (case-insensitive) with
    its defaults; a ``{"class_name", "config"}`` dict of ``classes``. Else a ValueError
    naming the argument ``name``, saying what is ``expected``, and the value."""
    if identifier is None or isinstance(identifier, base):
        return identifier
    if isinstance(identifier, str) and identifier.lower() in by_name:
        return by_name[identifier.lower()]()
    if isinstance(identifier, dict) and identifier.get("class_name") in classes:
        return classes[identifier["class_name"]].from_config(dict(identifier.get("config", {})))
    raise ValueError(f"{name}: expected {expected}, got {identifier!r}")


def serialize(obj):
    """``{"class_name", "config"}`` of an object (None stays None)."""
    return None if obj is None else {"class_name": type(obj).__name__,
                                     "config": obj.get_config()}
