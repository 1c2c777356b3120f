"""The embedded AWS: a development and test facility, not part of a production deployment.

Production talks to real EMR and S3 with the same provider code; only the Airflow connection's
``endpoint_url`` differs. Here moto serves the AWS APIs from this process, with what moto lacks
for EMR added on top: a cluster and step lifecycle with configurable timings, fault rules, EMR's
ListClusters paging and a control API under ``/_atmo/``.

- :mod:`atmo_provider.embedded.server`: :class:`~atmo_provider.embedded.server.EmbeddedAws`.
- :mod:`atmo_provider.embedded.control`: the control API client.
- :mod:`atmo_provider.embedded.seed`: buckets, EMR configuration and scripts ATMO expects.
- ``python -m atmo_provider.embedded serve``: the same as a command.

Importing this package imports nothing heavy; moto loads with the server module.
"""
