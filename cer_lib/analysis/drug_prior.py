"""The GPS prior of a FAERS database snapshot: fitted once on every drug-by-reaction pair, cached.

DuMouchel's (1999) empirical Bayes prior describes how relative reporting ratios spread over the
whole database. For a mirror of FAERS quarterly files it is fitted on the full table: every live
case in the window, its drugs in the roles counted (``faers.match`` values: the normalised drug
name and active ingredient of each drug row, `cer_lib.sources.mirror.formats.faers_ascii`), its
reactions; cells over distinct cases (`contingency.cells_from_codes`), the likelihood squashed
(DuMouchel & Pregibon 2001). The result depends only on the files, the window, the roles and the
fit settings, so it is cached under their hash (``<cache>/gps-priors/<hash>.json``) and a second
report on the same snapshot reads it instead of fitting again.

Online there is no such table (openFDA counts one drug at a time), so the drug's own
drug-versus-rest table gives the prior (`cer_lib.analysis.drug`), as its methods text says.
"""
from __future__ import annotations

import dataclasses
import hashlib
import json
import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from ..files import write_text_atomic
from ..sources.base import DateRange, Query
from .contingency import ReportCodes, cells_from_codes
from .ebgm_fit import choose_prior, fit_prior
from .ebgm_prior import GammaMixturePrior

__all__ = ["database_prior", "prior_from_dict"]

VERSION = "1"


def _codes(drug_rows: pd.DataFrame, reaction_rows: Any) -> ReportCodes:
    """Integer codes of (case, drug, reaction): ``rec_id, product`` rows and ``rec_id, value`` reaction rows."""
    drugs = drug_rows
    reactions = reaction_rows.to_pandas()
    cases = pd.Index(pd.unique(np.concatenate([drugs["rec_id"].to_numpy(), reactions["rec_id"].to_numpy()])))
    products, p_codes = np.unique(drugs["product"].to_numpy(dtype=str), return_inverse=True)
    terms, t_codes = np.unique(reactions["value"].to_numpy(dtype=str), return_inverse=True)
    report = np.concatenate([cases.get_indexer(drugs["rec_id"]), cases.get_indexer(reactions["rec_id"])]).astype(np.int64)
    product = np.concatenate([p_codes, np.full(len(reactions), -1)]).astype(np.int32)
    term = np.concatenate([np.full(len(drugs), -1), t_codes]).astype(np.int32)
    return ReportCodes(report=report, product=product, term=term, products=pd.Series(products, dtype="str"),
                       terms=pd.Series(terms, dtype="str"), n_reports=len(cases))


def database_prior(mirror: Any, window: tuple[Any, Any], roles: list[str], settings: Any, cache_dir: Path) -> dict[str, Any]:
    """The prior of the mirror's FAERS snapshot (see the module docstring), from the cache when it is there."""
    snapshot = mirror.snapshot("drug/event")
    key_text = json.dumps({"version": VERSION, "snapshot": snapshot, "window": [str(w) for w in window], "roles": sorted(roles),
                           "settings": {k: getattr(settings, k) for k in ("n_star", "min_pairs_for_prior", "prior_fallback",
                                                                         "truncation")}}, sort_keys=True)
    key = hashlib.sha256(key_text.encode()).hexdigest()
    path = cache_dir / "gps-priors" / f"{key}.json"
    if path.is_file():
        return json.loads(path.read_text(encoding="utf-8")) | {"cached": True}
    started = time.perf_counter()
    query = Query((DateRange("receivedate", window[0], window[1]),))
    drugs = mirror.field_values("drug/event", query, "patient.drug.faers.match").to_pandas()
    split = drugs["value"].str.split("|", n=1, expand=True) if len(drugs) else pd.DataFrame({0: [], 1: []})
    drugs = pd.DataFrame({"rec_id": drugs["rec_id"], "product": split[1]})[split[0].isin(list(roles)).to_numpy()]
    reactions = mirror.field_values("drug/event", query, "patient.reaction.reactionmeddrapt")
    table = cells_from_codes(_codes(drugs, reactions))
    fit = fit_prior(table["a"].to_numpy(float), table["E"].to_numpy(float), n_star=settings.n_star,
                    min_pairs=settings.min_pairs_for_prior, truncation=settings.truncation)
    choice = choose_prior(fit, settings.prior_fallback)
    result = {"snapshot": snapshot, "key": key, "n_pairs": int(len(table)), "n_reports": int(table["N"].iloc[0]) if len(table) else 0,
              "n_products": int(table["product"].nunique()), "source": choice.source, "reason": choice.reason,
              "prior": dataclasses.asdict(choice.prior) if choice.prior is not None else None,
              "seconds": round(time.perf_counter() - started, 2), "cached": False}
    path.parent.mkdir(parents=True, exist_ok=True)
    write_text_atomic(path, json.dumps(result, indent=1))
    return result


def prior_from_dict(data: dict[str, Any]) -> GammaMixturePrior | None:
    return GammaMixturePrior(**data["prior"]) if data.get("prior") else None
