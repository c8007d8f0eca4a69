"""Profiles: what differs by kind of code, looked up once per run (see `cer_lib.profiles.base`).

``PROFILES`` maps each kind to its profile (devices: `device`; drugs: `drug`). A kind without one
is refused with a message that says so, before anything runs.
"""
from __future__ import annotations

from typing import TYPE_CHECKING

from ..codes import Kind, parse_kind
from ..errors import NoProfile
from .base import Profile, Resolved
from .device import DEVICE, DeviceProfile, DeviceResolution
from .drug import DRUG, DrugProfile, DrugResolution

if TYPE_CHECKING:
    from ..params import Parameters

__all__ = ["PROFILES", "DeviceProfile", "DeviceResolution", "DrugProfile", "DrugResolution", "NoProfile", "Profile", "Resolved", "profile_for", "profile_of"]

PROFILES: dict[Kind, Profile] = {kind: profile for profile in (DEVICE, DRUG) for kind in profile.kinds}


def profile_for(kind: Kind | str, code: str | None = None) -> Profile:
    """The profile of a kind; `NoProfile` naming what this version reports on when there is none."""
    kind = parse_kind(kind)
    profile = PROFILES.get(kind)
    if profile is None:
        served = {p.name: [k.value for k in p.kinds] for p in PROFILES.values()}
        offered = "; ".join(f"{name}s (kind {', '.join(kinds[:-1])} or {kinds[-1]})" if len(kinds) > 1 else
                            f"{name}s (kind {kinds[0]})" for name, kinds in served.items())
        subject = f"{code!r} is a {kind.value}, and " if code else ""
        raise NoProfile(f"{kind.value} reports are not built yet: {subject}this version reports on {offered}.")
    return profile


def profile_of(params: "Parameters") -> Profile:
    """The profile of a run's parameters (the kind is resolved once, here)."""
    return profile_for(params.kind, params.code)
