"""addictidx: wearable EEG + HRV physiological deviation index and intervention decision support.

Decision support for rehabilitation staff only; see ``addictidx._core.intended_use``.
Subpackages are imported lazily by the CLI so that ``addictidx --help`` starts fast.
"""

__version__ = "0.1.0"

__all__ = ["__version__"]
