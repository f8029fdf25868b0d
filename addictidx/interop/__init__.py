"""Interoperability with the ecosystem's standards: LSL streams, HL7 FHIR, BIDS physiology.

Each standard's library is optional and imported lazily: ``mne-lsl`` (extra ``lsl``),
``fhir.resources`` (extra ``fhir``), ``mne-bids`` (extra ``bids``).
"""

__all__: list[str] = []
