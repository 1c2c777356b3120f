"""Operators that launch and terminate ATMO's clusters and run its Spark jobs."""

from __future__ import annotations
