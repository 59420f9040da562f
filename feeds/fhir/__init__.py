"""FHIR R4 endpoint (``/fhir/r4``): Encounter and Location updates, batch and
transaction Bundles, mapped onto the event layer (docs/fhir.md)."""
