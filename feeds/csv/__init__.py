"""CSV imports: ED attendances, theatre lists, the discharge sitrep, bed snapshots.

``parse`` reads a file and its cells; one module per kind turns rows into events
(pure: it is given the organisation's codes and the facts it needs as values);
``importer`` checks, previews and applies a file in one transaction through the
event layer (docs/csv-imports.md).
"""
