"""Feeds: everything that turns outside events into calls of the event layer (``data.writes``)."""
