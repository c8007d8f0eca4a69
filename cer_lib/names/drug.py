"""The normalised form of a drug name, as FAERS writes drug names and as people ask for them.

FAERS ``drugname`` is free text from the reporter (``RISPERDAL``, ``Risperdal.``, ``ACYCLOVIR.``),
``prod_ai`` FDA's active-ingredient coding (``DOXORUBICIN HYDROCHLORIDE``). `drug_key` maps the
ways one product or ingredient is written to one form:

1. `match_key` (case, ``® ™ ©``, typographic quotes and dashes, surrounding punctuation, repeated
   spaces);
2. every punctuation mark inside the name except ``-`` ``/`` ``+`` and ``&`` becomes a space
   (``RISPERIDONE,`` ``RISPERIDONE.`` -> ``RISPERIDONE``);
3. one trailing salt or hydrate word (`SALT_WORDS`) is removed when what is left is neither empty
   nor itself a salt word: ``DOXORUBICIN HYDROCHLORIDE`` -> ``DOXORUBICIN``, ``LEVOTHYROXINE SODIUM``
   -> ``LEVOTHYROXINE``, but ``POTASSIUM CHLORIDE`` stays (the salt is the drug). Esters that make a
   different product (``PALIPERIDONE PALMITATE``, ``HALOPERIDOL DECANOATE``) are not salts here.

Nothing else is merged: brand and ingredient stay different names (resolution links them through
the records that name both).
"""
from __future__ import annotations

import re

from .normalise import match_key

__all__ = ["SALT_WORDS", "drug_key"]

SALT_WORDS = frozenset("""
    HYDROCHLORIDE HCL DIHYDROCHLORIDE HYDROBROMIDE HBR SODIUM POTASSIUM CALCIUM MAGNESIUM MESYLATE MESILATE
    DIMESYLATE MALEATE FUMARATE HEMIFUMARATE SUCCINATE TARTRATE BITARTRATE CITRATE ACETATE SULFATE SULPHATE
    BISULFATE PHOSPHATE BESYLATE BESILATE TOSYLATE HYCLATE NITRATE LACTATE MALATE OXALATE CHLORIDE BROMIDE
    HYDRATE MONOHYDRATE DIHYDRATE TRIHYDRATE SESQUIHYDRATE ANHYDROUS
""".split())
_INNER_PUNCTUATION = re.compile(r"[^\w\s\-/+&]")
_SPACES = re.compile(r"\s+")


def drug_key(name: str) -> str:
    """The normalised form of a drug name (see the module docstring); "" when nothing is left."""
    words = _SPACES.sub(" ", _INNER_PUNCTUATION.sub(" ", match_key(name))).strip().split(" ")
    words = [w for w in words if w]
    if len(words) > 1 and words[-1] in SALT_WORDS and words[-2] not in SALT_WORDS:
        words = words[:-1]
    return " ".join(words)
