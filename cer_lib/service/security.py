"""Bearer tokens: minting (``cer token``) and checking (every API request).

A token is a JWT with ``sub`` (who), ``role`` (viewer, author or admin), ``iat`` and ``exp``. The
algorithm is pinned by the settings, never read from the token: HS256 with ``CER_JWT_SECRET`` (or the
secret file), or RS256 with ``CER_JWT_PUBLIC_KEY`` (tokens are then minted elsewhere, or by
``cer token --private-key``). A token without ``exp``, expired, signed with another key or
algorithm (``alg: none`` included), or with an unknown role is refused as `InvalidToken`.
"""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from pathlib import Path

import jwt

from .config import ROLES, ServiceSettings

LEEWAY_SECONDS = 10  # clock skew between the machine that minted a token and the API


class InvalidToken(Exception):
    """The bearer token cannot be trusted; the message says why (never echoing the token)."""


@dataclass(frozen=True)
class Principal:
    """Who is calling, as the token says."""

    subject: str
    role: str

    def can(self, role: str) -> bool:
        """Roles are ordered: viewer < author < admin; each can do what the ones before it can."""
        return ROLES.index(self.role) >= ROLES.index(role)


def mint_token(settings: ServiceSettings, subject: str, role: str, *, minutes: int | None = None,
               private_key: Path | None = None) -> str:
    """A signed token for ``subject`` with ``role``, valid ``minutes`` (default ``CER_TOKEN_MINUTES``)."""
    if role not in ROLES:
        raise ValueError(f"role {role!r} is not one of {', '.join(ROLES)}")
    if not subject or len(subject) > 200:
        raise ValueError("the subject must be 1 to 200 characters")
    now = dt.datetime.now(dt.timezone.utc)
    claims = {"sub": subject, "role": role, "iat": now,
              "exp": now + dt.timedelta(minutes=minutes or settings.token_minutes)}
    if settings.jwt_algorithm == "RS256":
        if private_key is None:
            raise ValueError("the service checks RS256 tokens (CER_JWT_PUBLIC_KEY): "
                             "mint with --private-key FILE holding the matching private key")
        return jwt.encode(claims, private_key.read_text(encoding="utf-8"), algorithm="RS256")
    return jwt.encode(claims, settings.hs256_secret(create=True), algorithm="HS256")


def verify_token(token: str, settings: ServiceSettings) -> Principal:
    """The principal of a valid token, or `InvalidToken`."""
    try:
        claims = jwt.decode(
            token,
            settings.jwt_verification_key(),
            algorithms=[settings.jwt_algorithm],
            options={"require": ["exp", "sub"]},
            leeway=LEEWAY_SECONDS,
        )
    except jwt.ExpiredSignatureError:
        raise InvalidToken("the token has expired: get a new one (`cer token`)") from None
    except jwt.MissingRequiredClaimError as exc:
        raise InvalidToken(f"the token has no '{exc.claim}' claim") from None
    except jwt.InvalidAlgorithmError:
        raise InvalidToken(f"the token is not signed with {settings.jwt_algorithm}, the only algorithm accepted") from None
    except jwt.InvalidSignatureError:
        raise InvalidToken("the token's signature does not match this service's key") from None
    except jwt.PyJWTError:
        raise InvalidToken("the token is malformed or not signed as this service expects") from None
    subject, role = claims.get("sub"), claims.get("role")
    if not isinstance(subject, str) or not subject:
        raise InvalidToken("the token's 'sub' claim is empty")
    if role not in ROLES:
        raise InvalidToken(f"the token's role must be one of {', '.join(ROLES)}")
    return Principal(subject, role)
