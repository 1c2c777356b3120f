"""Checks of what users type in: SSH public keys and the Params of a cluster launch.

Everything here is pure Python without AWS, so that the same rules run in the trigger form's JSON
schema, in the first task of a launch and in the command line.
"""

from __future__ import annotations
