"""``GET /fhir/r4/metadata``: what this server does, as an R4 CapabilityStatement."""

from __future__ import annotations

UK_CORE = "https://fhir.hl7.org.uk/StructureDefinition"


def capability_statement(base_url: str) -> dict:
    from flask import current_app

    version = current_app.config.get("COMMAND_CENTRE_VERSION", "")

    def resource(kind: str, doc: str) -> dict:
        return {
            "type": kind,
            "profile": f"http://hl7.org/fhir/StructureDefinition/{kind}",
            "supportedProfile": [f"{UK_CORE}/UKCore-{kind}"],
            "documentation": doc,
            "interaction": [{"code": "update"}],
            "versioning": "versioned-update",
            "readHistory": False,
            "updateCreate": True,
            "conditionalCreate": False,
            "conditionalUpdate": False,
            "conditionalDelete": "not-supported",
        }

    return {
        "resourceType": "CapabilityStatement",
        "status": "active",
        "date": "2026-12-04",
        "publisher": "Command Centre",
        "kind": "instance",
        "software": {"name": "Command Centre", "version": version},
        "implementation": {
            "description": "Hospital operations command centre: ED attendances, "
            "inpatient stays and bed locations from Encounter and Location updates",
            "url": base_url,
        },
        "fhirVersion": "4.0.1",
        "format": ["application/fhir+json", "json"],
        "rest": [
            {
                "mode": "server",
                "documentation": "Writes only. Authenticate every request except "
                "this one with a feed bearer token (Authorization: Bearer …).",
                "security": {
                    "cors": False,
                    "description": "Per-feed bearer tokens issued by an "
                    "administrator; browser sessions are not accepted.",
                },
                "resource": [
                    resource(
                        "Encounter",
                        "ED attendances and inpatient stays: "
                        "status, class, location[] and hospitalization",
                    ),
                    resource(
                        "Location",
                        "Matched to the organisation's codes by "
                        "identifier; an unknown ward or bed is proposed to an "
                        "administrator",
                    ),
                ],
                "interaction": [{"code": "transaction"}, {"code": "batch"}],
            }
        ],
    }
