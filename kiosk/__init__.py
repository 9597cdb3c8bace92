"""Station kiosk core: a Flask app that loads pluggy plugins.

Plugins write ``from kiosk import hookimpl``.
"""

from kiosk.hookspecs import hookimpl

__version__ = "0.1.0"
#: The plugin API version. A plugin declares the versions it supports with a
#: module attribute ``KIOSK_API = ">=1,<2"``; an incompatible one is refused.
API_VERSION = 1

__all__ = ["hookimpl", "__version__", "API_VERSION"]
