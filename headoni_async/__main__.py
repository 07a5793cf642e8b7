"""``python -m headoni_async``: the same command as ``headoni``."""

from .cli import main

raise SystemExit(main())
