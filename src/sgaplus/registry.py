"""A tiny name -> class registry, shared by relaxations, schedules and models.

Modelled on ``compressai/registry/torch.py``: a plain dict filled by a one-line
decorator, looked up once by name so that hot loops never branch on strings.
"""

from __future__ import annotations

from typing import Any, Callable, Generic, TypeVar

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
            allowed = ", ".join(getattr(cls, "__dataclass_fields__", {})) or "none"
            raise ValueError(
                f"{self.kind} {name!r} does not take {', '.join(params)}; its parameters: {allowed}"
            ) from None

    def names(self) -> list[str]:
        return sorted(self._entries)

    def __contains__(self, name: object) -> bool:
        return name in self._entries
