"""Loads the ATMO tab from Airflow's plugins folder; see :mod:`atmo_provider.plugin`."""

from __future__ import annotations

from atmo_provider.plugin import AtmoPlugin

__all__ = ["AtmoPlugin"]
