"""Scheduled Spark jobs: spec files (``jobs/*.yaml``) and the DAGs built from them."""

from __future__ import annotations
