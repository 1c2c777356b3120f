"""Triggers that wait for EMR clusters in Airflow's triggerer."""

from __future__ import annotations
