"""The MAUDE flat files: their kinds (layouts), the columns of each, and how file names map to them.

=====================  =========================================================================
layout (file names)    columns (canonical order used when the file has no header)
=====================  =========================================================================
mdrfoi (mdrfoi*)       the 81 ``MDRFOI`` columns of FDA's pipeline: mdr_report_key, event_key,
                       report_number, report_source_code, ..., event_type, ..., date_added,
                       date_changed, reporter_country_code, pma_pmn_number, exemption_number,
                       summary_report_flag (older files: the first 77)
foidev (foidev*)       45 columns: mdr_report_key ... device_report_product_code, device_age_text,
                       device_evaluated_by_manufacturer, then 17 ``baseline_*`` columns (older rows
                       stop after the first 28, which is accepted)
device (device*)       29 columns: as foidev but ``device_operator`` before the expiry date and
                       ``combination_product_flag`` last; newer files add UDI columns (by header)
foitext (foitext*)     mdr_report_key | mdr_text_key | text_type_code | patient_sequence_number |
                       date_report | text   (usually no header; ``text`` is free text)
patient (patient*)     mdr_report_key | patient_sequence_number | date_received |
                       sequence_number_treatment | sequence_number_outcome  (newer: + age, sex, ...)
foidevproblem          mdr_report_key | device_problem_code
patientproblemcode     mdr_report_key | patient_sequence_number | patient_problem_code |
                       date_added | date_changed
deviceproblemcodes     code , term  (comma CSV with quotes, or ``|``)
patientproblemdata     code , term  (``patientproblemcodes.csv``; comma CSV with quotes, or ``|``)
=====================  =========================================================================

The file's own header row wins when there is one (names lower-cased, the few FDA spellings that
differ from openFDA's mapped, e.g. ``FOI_TEXT`` -> ``text``); it must then hold the layout's
``required`` columns, without which its rows cannot be joined or found.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

__all__ = ["FlatLayout", "LAYOUTS", "COLUMN_ALIASES", "layout_for", "maude_files"]

_MDRFOI = (
    "mdr_report_key event_key report_number report_source_code manufacturer_link_flag "
    "number_devices_in_event number_patients_in_event date_received adverse_event_flag "
    "product_problem_flag date_report date_of_event reprocessed_and_reused_flag "
    "reporter_occupation_code health_professional initial_report_to_fda date_facility_aware "
    "report_date report_to_fda date_report_to_fda event_location date_report_to_manufacturer "
    "manufacturer_contact_t_name manufacturer_contact_f_name manufacturer_contact_l_name "
    "manufacturer_contact_address_1 manufacturer_contact_address_2 manufacturer_contact_city "
    "manufacturer_contact_state manufacturer_contact_zip_code manufacturer_contact_zip_ext "
    "manufacturer_contact_country manufacturer_contact_postal_code manufacturer_contact_area_code "
    "manufacturer_contact_exchange manufacturer_contact_phone_number manufacturer_contact_extension "
    "manufacturer_contact_pcountry manufacturer_contact_pcity manufacturer_contact_plocal "
    "manufacturer_g1_name manufacturer_g1_address_1 manufacturer_g1_address_2 manufacturer_g1_city "
    "manufacturer_g1_state manufacturer_g1_zip_code manufacturer_g1_zip_code_ext "
    "manufacturer_g1_country manufacturer_g1_postal_code date_manufacturer_received "
    "device_date_of_manufacturer single_use_flag remedial_action previous_use_code "
    "removal_correction_number event_type distributor_name distributor_address_1 "
    "distributor_address_2 distributor_city distributor_state distributor_zip_code "
    "distributor_zip_code_ext report_to_manufacturer manufacturer_name manufacturer_address_1 "
    "manufacturer_address_2 manufacturer_city manufacturer_state manufacturer_zip_code "
    "manufacturer_zip_code_ext manufacturer_country manufacturer_postal_code type_of_report "
    "source_type date_added date_changed reporter_country_code pma_pmn_number exemption_number "
    "summary_report_flag"
).split()
_DEVICE_COMMON = (
    "mdr_report_key device_event_key implant_flag date_removed_flag device_sequence_number "
    "date_received brand_name generic_name manufacturer_d_name manufacturer_d_address_1 "
    "manufacturer_d_address_2 manufacturer_d_city manufacturer_d_state manufacturer_d_zip_code "
    "manufacturer_d_zip_code_ext manufacturer_d_country manufacturer_d_postal_code"
).split()
_FOIDEV = _DEVICE_COMMON + (
    "expiration_date_of_device model_number catalog_number lot_number other_id_number "
    "device_operator device_availability date_returned_to_manufacturer device_report_product_code "
    "device_age_text device_evaluated_by_manufacturer baseline_brand_name baseline_generic_name "
    "baseline_model_number baseline_catalog_number baseline_other_id_number baseline_device_family "
    "baseline_shelf_life_contained baseline_shelf_life_in_months baseline_pma_flag "
    "baseline_pma_number baseline_510_k_flag baseline_510_k_number baseline_preamendment_flag "
    "baseline_transitional_flag baseline_510_k_exempt_flag baseline_date_first_marketed "
    "baseline_date_ceased_marketing"
).split()
_DEVICE = _DEVICE_COMMON + (
    "device_operator expiration_date_of_device model_number catalog_number lot_number "
    "other_id_number device_availability date_returned_to_manufacturer device_report_product_code "
    "device_age_text device_evaluated_by_manufacturer combination_product_flag"
).split()


@dataclass(frozen=True)
class FlatLayout:
    """The shape of one kind of MAUDE flat file."""

    name: str
    columns: tuple[str, ...]  # canonical columns, used when the file has no header row
    legacy_widths: tuple[int, ...] = ()  # older rows holding only the first N columns (accepted)
    free_text_last: bool = False  # the last column is free text and may hold stray '|'
    code_list: bool = False  # a code -> term list (comma CSV or '|'), not keyed by MDR_REPORT_KEY
    required: tuple[str, ...] = ("mdr_report_key",)  # columns a header row must name


LAYOUTS: dict[str, FlatLayout] = {
    "mdrfoi": FlatLayout("mdrfoi", tuple(_MDRFOI), legacy_widths=(77,), required=("mdr_report_key", "date_received")),
    "foidev": FlatLayout("foidev", tuple(_FOIDEV), legacy_widths=(28,), required=("mdr_report_key", "device_report_product_code")),
    "device": FlatLayout("device", tuple(_DEVICE), required=("mdr_report_key", "device_report_product_code")),
    "foitext": FlatLayout(
        "foitext",
        ("mdr_report_key", "mdr_text_key", "text_type_code", "patient_sequence_number", "date_report", "text"),
        free_text_last=True, required=("mdr_report_key", "text"),
    ),
    "patient": FlatLayout(
        "patient",
        ("mdr_report_key", "patient_sequence_number", "date_received", "sequence_number_treatment", "sequence_number_outcome"),
        required=("mdr_report_key", "patient_sequence_number"),
    ),
    "foidevproblem": FlatLayout("foidevproblem", ("mdr_report_key", "device_problem_code"),
                                required=("mdr_report_key", "device_problem_code")),
    "patientproblemcode": FlatLayout(
        "patientproblemcode",
        ("mdr_report_key", "patient_sequence_number", "patient_problem_code", "date_added", "date_changed"),
        required=("mdr_report_key", "patient_sequence_number", "patient_problem_code"),
    ),
    "deviceproblemcodes": FlatLayout("deviceproblemcodes", ("code", "term"), code_list=True, required=()),
    "patientproblemdata": FlatLayout("patientproblemdata", ("code", "term"), code_list=True, required=()),
}

# FDA header spellings that differ from the openFDA field names.
COLUMN_ALIASES = {
    "foi_text": "text",
    "device_sequence_no": "device_sequence_number",
    "patient_sequence_no": "patient_sequence_number",
    "device_evaluated_by_manufactur": "device_evaluated_by_manufacturer",
    "device_date_of_manufacture": "device_date_of_manufacturer",
    "manufacturer_g1_street_1": "manufacturer_g1_address_1",
    "manufacturer_g1_street_2": "manufacturer_g1_address_2",
    "problem_code": "patient_problem_code",
    "udi-di": "udi_di",
    "udi-public": "udi_public",
}


_LAYOUT_NAMES = (  # file-name keyword -> layout; longer keywords first
    ("patientproblemcodes", "patientproblemdata"),  # FDA ships patientproblemdata.zip as patientproblemcodes.csv
    ("patientproblemdata", "patientproblemdata"),
    ("patientproblemcode", "patientproblemcode"),
    ("deviceproblemcode", "deviceproblemcodes"),
    ("foidevproblem", "foidevproblem"),
    ("mdrfoi", "mdrfoi"),
    ("foidev", "foidev"),
    ("foitext", "foitext"),
    ("device", "device"),
    ("patient", "patient"),
)


def layout_for(path: Path) -> FlatLayout | None:
    """The layout a MAUDE file name implies, or None.

    The keyword starts the name or follows ``_``, ``-`` or ``.``: ``mdrfoiThru2023.txt`` -> mdrfoi,
    ``DEVICE2022.zip`` -> device, ``maude__tests__data__foitext.txt`` -> foitext.
    """
    name = Path(path).name.lower()
    for keyword, layout in _LAYOUT_NAMES:
        if re.search(rf"(?:^|[_.-]){keyword}", name):
            return LAYOUTS[layout]
    return None


def maude_files(folder: Path) -> list[Path]:
    """MAUDE flat files in ``folder`` (``.txt``, ``.csv`` or their ``.zip``), Add/Change files last."""
    folder = Path(folder)
    if not folder.is_dir():
        return []
    found = [
        p for p in folder.iterdir()
        if p.is_file() and layout_for(p) is not None and re.search(r"\.(txt|csv)(\.zip)?$|\.zip$", p.name.lower())
    ]

    def order(p: Path) -> tuple[int, str]:
        name = p.name.lower()
        return (2 if "change" in name else 1 if "add" in name else 0, name)

    return sorted(found, key=order)
