"""A tiny name -> class registry, shared by relaxations, schedules and models.

Modelled on ``compressai/registry/torch.py``: a plain dict filled by a one-line
decorator, looked up once by name so that hot loops never branch on strings.
"""

from __future__ import annotations

import importlib
import pkgutil
from dataclasses import fields
from typing import Any, Callable, ClassVar, Generic, Iterable, TypeVar

T = TypeVar("T")


class Registry(Generic[T]):
    """Maps names to classes or factories; `create` builds one from keyword args."""

    def __init__(self, kind: str) -> None:
        self.kind = kind
        self._entries: dict[str, T] = {}

    def register(self, name: str) -> Callable[[T], T]:
        def decorator(obj: T) -> T:
            if name in self._entries:
                raise ValueError(f"{self.kind} {name!r} is registered twice")
            self._entries[name] = obj
            obj.name = name  # type: ignore[attr-defined]
            return obj

        return decorator

    def get(self, name: str) -> T:
        try:
            return self._entries[name]
        except KeyError:
            known = ", ".join(sorted(self._entries))
            raise ValueError(f"unknown {self.kind} {name!r}; choose one of: {known}") from None

    def create(self, name: str, **params: Any) -> Any:
        """Build the entry ``name`` with keyword ``params``, with a one-line error
        naming the accepted parameters when one is unknown."""
        cls = self.get(name)
        try:
            return cls(**params)  # type: ignore[operator]
        except TypeError:
            allowed = ", ".join(f.name for f in fields(cls)) or "none"  # type: ignore[arg-type]
            raise ValueError(
                f"{self.kind} {name!r} does not take {', '.join(params)}; its parameters: {allowed}"
            ) from None

    def names(self) -> list[str]:
        return sorted(self._entries)

    def __contains__(self, name: object) -> bool:
        return name in self._entries


def import_all(package: str, path: Iterable[str]) -> None:
    """Import every module of a package (``import_all(__name__, __path__)`` in its
    ``__init__``): registering an entry takes its file and nothing else, no import list
    to keep by hand."""
    for module in pkgutil.iter_modules(path):
        importlib.import_module(f"{package}.{module.name}")


class Entry:
    """Base of registry entries that are dataclasses of numeric hyperparameters.

    Validates the fields once at construction (``torch.optim`` style: the error
    names the parameter) and gives the config that rebuilds the entry.

    Class attributes:
        name: the registry name, set by :meth:`Registry.register`.
        kind: the config key of the name (``"method"``, ``"schedule"``).
        allow_zero: whether 0 is a valid value (a temperature floor may be; a
            shape parameter may not).
    """

    name: ClassVar[str] = ""
    kind: ClassVar[str] = ""
    allow_zero: ClassVar[bool] = False

    def __post_init__(self) -> None:
        for f in fields(self):  # type: ignore[arg-type]
            value = getattr(self, f.name)
            ok = isinstance(value, (int, float)) and value == value
            ok = ok and (value >= 0 if self.allow_zero else value > 0)
            if not ok:  # in words: the command line shows it as it stands (--param a=-1)
                bound = "0 or more" if self.allow_zero else "above 0"
                raise ValueError(f"{self.kind} {self.name!r}: {f.name} must be a number {bound}, not {value}")

    def params(self) -> dict[str, Any]:
        """The hyperparameters, every one spelled out: ``Registry.create(name, **params)``
        rebuilds the entry."""
        return {f.name: getattr(self, f.name) for f in fields(self)}  # type: ignore[arg-type]

    def config(self) -> dict[str, Any]:
        """``{kind: name, **hyperparameters}``."""
        return {self.kind: self.name, **self.params()}
