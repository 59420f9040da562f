"""OperationOutcome answers: one issue per problem, with the HTTP status FHIR
prescribes for it (https://hl7.org/fhir/R4/http.html)."""

from __future__ import annotations

from dataclasses import dataclass

FHIR_JSON = "application/fhir+json"


@dataclass(frozen=True)
class Issue:
    """One problem (or note): ``code`` from the FHIR issue-type value set."""

    code: str
    text: str
    expression: str | None = None
    severity: str = "error"

    def as_json(self) -> dict:
        out: dict = {
            "severity": self.severity,
            "code": self.code,
            "diagnostics": self.text,
        }
        if self.expression:
            out["expression"] = [self.expression]
        return out


class FhirError(Exception):
    """A request (or bundle entry) that cannot be taken: its status and issues."""

    def __init__(self, status: int, issues: list[Issue] | Issue) -> None:
        self.status = status
        self.issues = issues if isinstance(issues, list) else [issues]
        super().__init__("; ".join(i.text for i in self.issues))


def operation_outcome(issues: list[Issue]) -> dict:
    return {
        "resourceType": "OperationOutcome",
        "issue": [i.as_json() for i in issues]
        or [
            {"severity": "information", "code": "informational", "diagnostics": "ok"}
        ],  # fmt: skip
    }


def status_line(status: int) -> str:
    from http import HTTPStatus

    try:
        return f"{status} {HTTPStatus(status).phrase}"
    except ValueError:
        return str(status)
