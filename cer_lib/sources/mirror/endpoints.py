"""What the mirror knows about each openFDA endpoint it serves: searchable fields, the record key,
what makes a record usable, and how strictly its files are read.

A file format names the endpoints it feeds by these specs (`FileFormat.feeds`); the mirror serves
exactly the endpoints its registered formats feed. The device endpoints are here; a format that
feeds a new endpoint (FAERS ``drug/event``) defines its spec next to itself.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Mapping

from ...errors import MirrorError

__all__ = ["FieldSpec", "EndpointSpec", "field_specs", "DEVICE_ENDPOINTS"]


@dataclass(frozen=True)
class FieldSpec:
    """A field the mirror can search, count and sort on: its openFDA name and kind."""

    name: str
    kind: str = "term"  # "term" or "date" (dates are compared and counted as YYYYMMDD)


def field_specs(terms: str, dates: str = "") -> dict[str, FieldSpec]:
    """Field specs from space-separated term field names and date field names."""
    specs = {name: FieldSpec(name) for name in terms.split()}
    specs.update({name: FieldSpec(name, "date") for name in dates.split()})
    return specs


@dataclass(frozen=True)
class EndpointSpec:
    """One openFDA endpoint as the mirror serves it.

    - ``key``: value paths of the record key (duplicates and sort tie-break), joined with ``/``.
    - ``bridge``: a second identity for records without a key (a publisher's event row without
      ``mdr_report_key`` is matched to the keyed record with its ``report_number``).
    - ``newest_by``: a field whose largest value marks the copy of a key to keep (a case version:
      a later quarter's version of a FAERS case replaces the earlier one); None keeps the copy of
      the fullest source, then the first file, then the first row.
    - ``required``: groups of fields; a record needs a value in at least one field of every group,
      else it is rejected (counted in the load report with its line), never kept half-usable.
    - ``must_agree``: fields on which two records with the same key may not differ: the mirror
      refuses such an endpoint rather than pick one silently (a product code with two classes).
    - ``max_rejected_share``: the share of a file's rows that may be rejected before the file is
      refused; None uses the mirror's (`DEFAULT_MAX_REJECTED_SHARE`), 0 means every row must be read.
    - ``dating``: the date that says how current a file is when its format states none.
    - ``cache_conversions``: keep the conversion of its files in ``.derived/`` (large endpoints).
    """

    name: str
    fields: Mapping[str, FieldSpec]
    aliases: Mapping[str, str] = field(default_factory=dict)
    key: tuple[str, ...] = ()
    bridge: str | None = None
    newest_by: str | None = None
    required: tuple[tuple[str, ...], ...] = ()
    must_agree: tuple[str, ...] = ()
    max_rejected_share: float | None = None
    dating: str | None = None
    cache_conversions: bool = False

    def field(self, name: str) -> FieldSpec:
        """The spec of a field (or of one of its aliases); an error that lists the fields otherwise."""
        name = self.aliases.get(name, name)
        if name not in self.fields:
            supported = ", ".join(sorted(self.fields) + sorted(self.aliases))
            raise MirrorError(f"the mirror cannot search or count {self.name} on field {name!r}; supported fields: {supported}")
        return self.fields[name]

    def date_fields(self) -> list[str]:
        return sorted(name for name, spec in self.fields.items() if spec.kind == "date")


_OPENFDA = "openfda.device_name openfda.device_class openfda.regulation_number openfda.medical_specialty_description"

DEVICE_ENDPOINTS: dict[str, EndpointSpec] = {spec.name: spec for spec in (
    EndpointSpec(
        "device/event",
        field_specs(
            "mdr_report_key report_number event_key event_type adverse_event_flag product_problem_flag "
            "report_source_code summary_report_flag manufacturer_name product_problems patient.patient_problems "
            "patient.sequence_number_outcome device.device_report_product_code device.brand_name "
            "device.generic_name device.manufacturer_d_name device.model_number device.catalog_number "
            "device.openfda.device_name device.openfda.device_class device.openfda.regulation_number "
            "device.openfda.medical_specialty_description mdr_text.text_type_code",
            "date_received date_of_event date_report date_added date_changed",
        ),
        key=("mdr_report_key",), bridge="report_number",
        required=(("mdr_report_key", "report_number"), ("date_received",)),
        dating="date_received", cache_conversions=True,
    ),
    EndpointSpec(
        "device/recall",
        field_specs(
            "product_code k_numbers recalling_firm recall_status res_event_number product_res_number cfres_id "
            "root_cause_description " + _OPENFDA,
            "event_date_initiated event_date_posted event_date_terminated event_date_created",
        ),
        key=("product_res_number",), dating="event_date_posted",
    ),
    EndpointSpec(
        "device/enforcement",
        field_specs(
            "product_code recall_number event_id classification status recalling_firm product_type "
            "voluntary_mandated " + _OPENFDA,
            "report_date recall_initiation_date center_classification_date termination_date",
        ),
        key=("recall_number",), dating="report_date",
    ),
    EndpointSpec(
        "device/510k",
        field_specs(
            "k_number product_code applicant device_name decision_code decision_description clearance_type "
            "advisory_committee " + _OPENFDA,
            "decision_date date_received",
        ),
        key=("k_number",), required=(("k_number",),), dating="decision_date",
    ),
    EndpointSpec(
        "device/pma",
        field_specs(
            "pma_number supplement_number product_code applicant trade_name generic_name decision_code "
            "supplement_type advisory_committee " + _OPENFDA,
            "decision_date date_received",
        ),
        key=("pma_number", "supplement_number"), required=(("pma_number",),), dating="decision_date",
    ),
    EndpointSpec(
        "device/udi",
        field_specs(
            "identifiers.id product_codes.code product_codes.name brand_name company_name version_or_model_number "
            "public_device_record_key commercial_distribution_status device_description gmdn_terms.name "
            "premarket_submissions.submission_number product_codes.openfda.regulation_number "
            "product_codes.openfda.device_name product_codes.openfda.device_class",
            "public_version_date publish_date",
        ),
        key=("public_device_record_key",), dating="public_version_date",
    ),
    EndpointSpec(
        "device/registrationlisting",
        field_specs(
            "products.product_code k_number pma_number proprietary_name establishment_type registration.name "
            "registration.registration_number registration.fei_number registration.iso_country_code "
            "products.openfda.regulation_number products.openfda.device_name products.openfda.device_class",
        ),
        aliases={"product_code": "products.product_code"},
    ),
    EndpointSpec(
        "device/classification",
        field_specs(
            "product_code regulation_number device_class device_name medical_specialty "
            "medical_specialty_description review_panel implant_flag life_sustain_support_flag "
            "gmp_exempt_flag third_party_flag submission_type_id summary_malfunction_reporting",
        ),
        # reference data: a lost row is a product code misresolved or a comparator missing
        key=("product_code",), required=(("product_code",),), must_agree=("device_class", "regulation_number"),
        max_rejected_share=0.0,
    ),
)}
