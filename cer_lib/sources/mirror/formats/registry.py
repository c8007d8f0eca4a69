"""The registry of mirror file formats, and what the registered formats find in a mirror folder."""
from __future__ import annotations

import glob
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable, Iterator

from ....errors import MirrorError
from ..endpoints import EndpointSpec
from .base import FileFormat, SourceUnit, relative_path

__all__ = ["FormatRegistry", "Discovery"]


@dataclass
class Discovery:
    """What the registered formats found in a mirror folder."""

    units: list[SourceUnit] = field(default_factory=list)
    ignored: list[str] = field(default_factory=list)  # files in the formats' folders that none reads


class FormatRegistry:
    """File formats by name; the endpoints they feed; the units they find in a folder."""

    def __init__(self, formats: Iterable[FileFormat] = ()) -> None:
        self._formats: dict[str, FileFormat] = {}
        for file_format in formats:
            self.register(file_format)

    def register(self, file_format: FileFormat) -> FileFormat:
        """Add a format (its name must be new; an endpoint it feeds must match any spec already fed)."""
        if file_format.name in self._formats:
            raise ValueError(f"a mirror file format named {file_format.name!r} is already registered")
        known = self.endpoints()
        for spec in file_format.feeds:
            if spec.name in known and known[spec.name] != spec:
                raise ValueError(f"{file_format.name} feeds {spec.name} with a spec that differs from the registered one")
        self._formats[file_format.name] = file_format
        return file_format

    def get(self, name: str) -> FileFormat:
        try:
            return self._formats[name]
        except KeyError:
            raise MirrorError(f"no mirror file format {name!r}; registered: {', '.join(self._formats)}") from None

    def __iter__(self) -> Iterator[FileFormat]:
        return iter(self._formats.values())

    def __len__(self) -> int:
        return len(self._formats)

    def endpoints(self) -> dict[str, EndpointSpec]:
        """Every endpoint some registered format feeds, by name."""
        return {spec.name: spec for file_format in self for spec in file_format.feeds}

    def discover(self, folder: Path) -> Discovery:
        """The units every format finds in ``folder`` (in registration order), and the files in the
        formats' folders that no format reads."""
        found = Discovery()
        claimed: set[Path] = set()
        for file_format in self:
            for unit in file_format.units(folder):
                found.units.append(unit)
                claimed.update(unit.paths)
        candidates: set[Path] = set()
        for file_format in self:
            for pattern in file_format.folders:
                for place in glob.glob(f"{glob.escape(str(folder))}/{pattern}"):
                    place_path = Path(place)
                    if place_path.is_dir():
                        candidates.update(p for p in place_path.iterdir() if p.is_file() and not p.name.startswith("."))
        found.ignored = sorted(relative_path(p, folder) for p in candidates - claimed)
        return found
