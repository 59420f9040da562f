"""HL7 v2 ADT over MLLP: parse, map to event-layer events, archive, acknowledge.

``parse`` reads one message tolerantly, ``mapping`` turns it into events,
``ingest`` runs the per-message path (archive -> map -> apply -> commit -> ACK),
``listener`` serves MLLP over TCP and ``cli`` registers ``hl7-listen`` and
``hl7-replay``. See docs/hl7.md.
"""
