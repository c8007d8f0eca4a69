"""Eudamed's public device registration, read through the same `HttpClient` as openFDA.

Eudamed has no documented public API. These are the JSON endpoints behind the public web site
(``https://ec.europa.eu/tools/eudamed``), as used by public clients; their shapes can change without notice:

- device search: ``GET {base}/devices/udiDiData?page=0&pageSize=25&size=25&iso2Code=en&languageIso2Code=en``
  with one filter: ``primaryDi`` (UDI-DI), ``basicUdi`` (Basic UDI-DI), ``tradeName`` (a substring match
  on Eudamed's side, so results are re-checked here), ``srn`` (manufacturer SRN). Answers are Spring pages
  (``content``, ``totalElements``, ``totalPages``, ``number``); ``page`` is 0-based and ``pageSize`` is
  capped at 300 by the server;
- device detail: ``GET {base}/devices/udiDiData/{uuid}?languageIso2Code=en``;
- actor: ``GET {base}/actors/{uuid}/publicInformation?languageIso2Code=en``;
- certificates: ``GET {base}/certificates/search/?page=0&pageSize=…&size=…&actorSrn=…&languageIso2Code=en&iso2Code=en``.
  This is the site's certificate search (notified-body certificates: number, type, status, issue and
  expiry dates, notified body SRN); it is not documented either, and ``actorSrn`` is matched loosely by
  the server, so results are filtered to the exact SRN here.

Vigilance data (incidents, FSCAs, trend reports) are not public in Eudamed: nothing here reads them
and the report says so. An unreachable Eudamed raises `SourceUnavailable`; other failures `SourceError`.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

from ..errors import SourceError
from ..names import match_key
from ..settings import EUDAMED_PUBLIC
from .http import Fetched, HttpClient

MAX_PAGE_SIZE = 300
FILTERS = {"primary_di": "primaryDi", "basic_udi": "basicUdi", "trade_name": "tradeName", "srn": "srn"}
_UUID = re.compile(r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}")


def is_eudamed_uuid(value: str) -> bool:
    """Whether ``value`` has the form of an Eudamed record uuid (the only thing a detail URL may carry)."""
    return bool(_UUID.fullmatch(value or ""))


@dataclass
class EudamedPage:
    """Records of a paged Eudamed search and the server's ``totalElements``."""

    records: list[dict[str, Any]]
    total: int
    url: str  # the first page's URL (redacted), for provenance in reports

    @property
    def complete(self) -> bool:
        return len(self.records) >= self.total


class Eudamed:
    """Public Eudamed device, actor and certificate look-ups."""

    name = "eudamed"

    def __init__(self, client: HttpClient, base_url: str = EUDAMED_PUBLIC) -> None:
        self.client = client
        self.base_url = base_url.rstrip("/")

    @classmethod
    def for_run(cls, ctx: Any, **client_options: Any) -> "Eudamed":
        """Eudamed for a stage: ``EUDAMED_BASE_URL`` (and its credentials), the run's cache, pacing and provenance."""
        client = HttpClient.for_run(ctx, source="eudamed", credentials=ctx.settings.eudamed_credentials, **client_options)
        return cls(client, ctx.settings.eudamed_base_url)

    def __repr__(self) -> str:
        return f"Eudamed({self.base_url!r})"

    # -- plumbing ------------------------------------------------------------------------------

    def _json(self, fetched: Fetched, what: str, *, missing_ok: bool = False) -> Any:
        if fetched.status == 200:
            return fetched.json()
        if fetched.status == 404 and missing_ok:
            return None
        code, message = fetched.error_fields()
        said = " ".join(x for x in (code, message) if x) or fetched.body[:200].decode("utf-8", "replace").strip()
        raise SourceError(
            f"Eudamed answered HTTP {fetched.status} for {what} ({fetched.url}){': ' + said if said else ''}. "
            f"Eudamed's public API is undocumented and changes: check EUDAMED_BASE_URL ({self.base_url}) "
            f"and try again later."
        )

    def _paged(self, path: str, params: dict[str, Any], *, limit: int | None, what: str) -> EudamedPage:
        if limit is not None and limit < 0:
            raise ValueError(f"limit must be None or >= 0, got {limit}")
        size = min(MAX_PAGE_SIZE, limit) if limit else MAX_PAGE_SIZE
        size = max(size, 1)
        records: list[dict[str, Any]] = []
        total = 0
        first_url = ""
        number = 0
        while True:
            query = {"page": number, "pageSize": size, "size": size, **params}
            url = f"{self.base_url}/{path}?{urlencode(query)}"
            fetched = self.client.get(url)
            first_url = first_url or fetched.url
            data = self._json(fetched, what)
            if not isinstance(data, dict) or not isinstance(data.get("content"), list):
                raise SourceError(f"Eudamed's answer to {fetched.url} is not a page of results (no 'content' list); its API may have changed.")
            content = data.get("content") or []
            total = int(data.get("totalElements") or len(records) + len(content))
            records.extend(content)
            pages = data.get("totalPages")
            number += 1
            if (not content or (limit is not None and len(records) >= limit) or len(records) >= total
                    or (isinstance(pages, int) and number >= pages)):
                break
        if limit is not None:
            records = records[:limit]
        return EudamedPage(records, total, first_url)

    # -- look-ups ------------------------------------------------------------------------------

    def devices(
        self,
        *,
        primary_di: str | None = None,
        basic_udi: str | None = None,
        trade_name: str | None = None,
        srn: str | None = None,
        limit: int | None = 25,
    ) -> EudamedPage:
        """Devices (UDI-DI records) matching exactly one filter; ``limit=None`` pages through all.

        ``trade_name`` is a substring search at Eudamed: the records returned are only those whose
        ``tradeName`` has its normalised form (`cer_lib.names.match_key`), ``total`` stays the server's count.
        """
        given = {FILTERS[k]: v for k, v in {"primary_di": primary_di, "basic_udi": basic_udi,
                                             "trade_name": trade_name, "srn": srn}.items() if v}
        if len(given) != 1:
            raise ValueError("give exactly one of primary_di, basic_udi, trade_name, srn")
        (name, value), = given.items()
        if not str(value).strip() or any(ord(c) < 32 for c in str(value)):
            raise ValueError(f"Eudamed filter {name} has an unusable value {value!r}")
        params = {name: str(value).strip(), "iso2Code": "en", "languageIso2Code": "en"}
        page = self._paged("devices/udiDiData", params, limit=limit, what=f"devices with {name}={value}")
        if trade_name:
            wanted = match_key(trade_name)
            page.records = [r for r in page.records if match_key(str(r.get("tradeName") or "")) == wanted]
        return page

    def device(self, uuid: str) -> dict[str, Any] | None:
        """Full device record by Eudamed ``uuid`` (from a search result); None when Eudamed has none."""
        if not is_eudamed_uuid(uuid):
            raise ValueError(f"{uuid!r} is not an Eudamed uuid")
        fetched = self.client.get(f"{self.base_url}/devices/udiDiData/{uuid}?languageIso2Code=en")
        return self._json(fetched, f"device {uuid}", missing_ok=True)

    def actor(self, uuid: str) -> dict[str, Any] | None:
        """An actor's (manufacturer's) public information by ``uuid``; None when Eudamed has none."""
        if not _UUID.fullmatch(uuid or ""):
            raise ValueError(f"{uuid!r} is not an Eudamed uuid")
        fetched = self.client.get(f"{self.base_url}/actors/{uuid}/publicInformation?languageIso2Code=en")
        return self._json(fetched, f"actor {uuid}", missing_ok=True)

    def certificates(self, srn: str, *, limit: int | None = None) -> EudamedPage:
        """Notified-body certificates of the actor with SRN ``srn`` (the site's undocumented search)."""
        if not re.fullmatch(r"[A-Z]{2}-[A-Z]{2}-\d{9}", srn or ""):
            raise ValueError(f"{srn!r} is not an Eudamed SRN (e.g. DE-MF-000012345)")
        params = {"actorSrn": srn, "iso2Code": "en", "languageIso2Code": "en"}
        page = self._paged("certificates/search/", params, limit=limit, what=f"certificates of {srn}")
        page.records = [c for c in page.records if c.get("actorSrn") in (None, srn)]
        return page
