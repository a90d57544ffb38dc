"""SigmaSight: portfolio risk analytics for research notebooks.

The package follows the data flow: ``marketdata`` (providers, cache, coverage)
→ ``portfolios`` (parsing, validation, demo seeding) → ``engines`` (pure
calculations) → ``db`` (models, migrations, store) → ``cli``.
Nothing runs at import time.
"""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("sigmasight")
except PackageNotFoundError:  # running from a source tree that is not installed
    __version__ = "0.0.0+unknown"

__all__ = ["__version__"]
