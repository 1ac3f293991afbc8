"""Records found by module name: every module of a package that defines a record (``METHOD``, ``FAMILY``, ...)
contributes it, so adding one is adding a file. Torch-free."""

from __future__ import annotations

import importlib
import pkgutil
from typing import Callable, Generic, TypeVar

Record = TypeVar("Record")


class Registry(Generic[Record]):
    """Name → record, filled on first use from the modules of ``package`` that define ``attribute`` (of type
    ``kind``), in module-name order; records kept elsewhere join with :meth:`register`."""

    def __init__(self, package: str, attribute: str, kind: type, name_of: Callable[[Record], str], what: str) -> None:
        self.package, self.attribute, self.kind, self.name_of, self.what = package, attribute, kind, name_of, what
        self.records: dict[str, Record] = {}
        self._discovered = False

    def register(self, record: Record) -> Record:
        """Add ``record``; a second, different record under the same name is an error."""
        name = self.name_of(record)
        if self.records.get(name, record) is not record:
            raise ValueError(f"{self.what} {name!r} is registered twice")
        self.records[name] = record
        return record

    def all(self) -> dict[str, Record]:
        if not self._discovered:
            package = importlib.import_module(self.package)
            for module_info in pkgutil.iter_modules(package.__path__):
                module = importlib.import_module(f"{self.package}.{module_info.name}")
                if isinstance(getattr(module, self.attribute, None), self.kind):
                    self.register(getattr(module, self.attribute))
            self._discovered = True
        return self.records

    def get(self, name: object) -> Record:
        """The record called ``name``; ValueError listing the known ones."""
        known = self.all()
        if name not in known:
            raise ValueError(f"unknown {self.what} {name!r}; allowed: {', '.join(sorted(known))}")
        return known[name]
