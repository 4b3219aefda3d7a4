"""buildtools: fetch Asterisk, apply our res_pjsip patches and modules, build and install it."""

from __future__ import annotations

__version__ = "0.1.0"
