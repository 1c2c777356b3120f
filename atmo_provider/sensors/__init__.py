"""Sensors that wait for EMR clusters."""

from __future__ import annotations
