"""Name -> constructor registries, one per component kind (generators, losses, models, ...)."""
from typing import Callable, Dict, List

from util.errors import UserError


class Registry:
    """Maps an option string (e.g. ``--netG resnet_9blocks``) to a constructor.

    Use ``@REGISTRY.register("name")`` on a class or function; ``REGISTRY.get(name)`` returns it,
    and an unknown name raises `UserError` listing the valid names and the option that selects them.
    """

    def __init__(self, kind: str, option: str = ""):
        self.kind = kind          # what is registered, for messages ("generator")
        self.option = option      # the flag that chooses an entry, for messages ("--netG")
        self._entries: Dict[str, Callable] = {}

    def register(self, name: str) -> Callable:
        """Return a decorator that registers its argument under ``name``."""

        def decorator(obj):
            if name in self._entries:
                raise ValueError(f"{self.kind} '{name}' is registered twice")
            self._entries[name] = obj
            return obj

        return decorator

    def get(self, name: str) -> Callable:
        """Return the constructor registered as ``name``; raise `UserError` if there is none."""
        if name not in self._entries:
            flag = f" ({self.option})" if self.option else ""
            raise UserError(f"unknown {self.kind} '{name}'{flag}: choose one of {', '.join(self.names())}")
        return self._entries[name]

    def build(self, name: str, *args, **kwargs):
        """Construct the entry ``name`` with the given arguments."""
        return self.get(name)(*args, **kwargs)

    def names(self) -> List[str]:
        """Registered names, sorted."""
        return sorted(self._entries)
