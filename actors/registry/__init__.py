"""The registry: an application's entries, loaded from its YAML definition files.

`model` is what a loaded application is, `schema` the vocabulary kinds are declared in,
and `loader` reads and checks a directory. The names most code needs are here.
"""

from .loader import CheckReport, check_app, check_report, load_app
from .model import Entry, Problem, Registry, RegistryError, entry_problem

__all__ = [
    "CheckReport",
    "Entry",
    "Problem",
    "Registry",
    "RegistryError",
    "check_app",
    "check_report",
    "entry_problem",
    "load_app",
]
