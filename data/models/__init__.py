"""Typed ORM models, one module per feature area.

Every module in this package is imported here so that ``Base.metadata`` is complete
for Alembic and for tests; a new feature area only adds a module.
"""

import importlib
import pkgutil

from data.models.base import Base

for _info in sorted(pkgutil.iter_modules(__path__), key=lambda m: m.name):
    if _info.name != "base":
        importlib.import_module(f"{__name__}.{_info.name}")

__all__ = ["Base"]
