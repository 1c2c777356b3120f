"""The ``airflow atmo`` command group: job specs, clusters and jobs on the records, the database.

:mod:`.definition` declares the commands; :mod:`.commands` checks job specs and talks to EMR
directly, :mod:`.records_commands` lists, extends, terminates and runs from the records,
:mod:`.db_commands` migrates the records database.
"""

from __future__ import annotations
