"""Installed size of a set of distributions and everything they require (extras skipped).

Reads the interpreter's own environment through importlib.metadata, so "a venv with X" is
measured without building one: the sum of each distribution's RECORDed files.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from importlib import metadata
from typing import Iterable, Optional

_NAME = re.compile(r"^\s*([A-Za-z0-9][A-Za-z0-9._-]*)")


@dataclass
class Closure:
    sizes: dict[str, int] = field(default_factory=dict)  # normalized name -> bytes on disk
    missing: list[str] = field(default_factory=list)  # required but not installed here

    @property
    def total(self) -> int:
        return sum(self.sizes.values())

    def largest(self, n: int) -> list[tuple[str, int]]:
        return sorted(self.sizes.items(), key=lambda item: item[1], reverse=True)[:n]


def normalize(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def closure(roots: Iterable[str]) -> Closure:
    installed = {normalize(d.metadata["Name"]): d for d in metadata.distributions() if d.metadata["Name"]}
    result, pending = Closure(), [normalize(root) for root in roots]
    while pending:
        name = pending.pop()
        if name in result.sizes or name in result.missing:
            continue
        dist = installed.get(name)
        if dist is None:
            result.missing.append(name)
            continue
        result.sizes[name] = installed_bytes(dist)
        pending += [req for req in map(_required_name, dist.requires or []) if req]
    return result


def installed_bytes(dist: metadata.Distribution) -> int:
    total = 0
    for entry in dist.files or []:
        path = dist.locate_file(entry)
        if path.is_file():
            total += path.stat().st_size
    return total


def _required_name(requirement: str) -> Optional[str]:
    """The distribution a requirement needs here, or None (an extra, or a marker false on this machine)."""
    try:
        from packaging.requirements import Requirement
    except ImportError:  # no packaging: go by the text, keeping every non-extra requirement
        match = _NAME.match(requirement)
        marker = requirement.partition(";")[2]
        return normalize(match.group(1)) if match and "extra" not in marker else None
    parsed = Requirement(requirement)
    if parsed.marker is not None and not parsed.marker.evaluate({"extra": ""}):
        return None
    return normalize(parsed.name)
