"""Background work that runs once per deployment (leader lease)."""
