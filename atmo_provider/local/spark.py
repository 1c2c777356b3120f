"""A local PySpark session for notebooks that the local execution backend runs.

A notebook calls :func:`get_spark` where on an EMR cluster it would use the session the cluster
provides. The session runs Spark in the notebook's kernel machine: ``local[*]`` master, the
driver a JVM of its own (started by PySpark as a child of the kernel), every socket bound to
127.0.0.1 and no web UI, so a job run on a developer's machine opens no port to the network.
"""

from __future__ import annotations

import os
import sys
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

__all__ = ["DEFAULT_DRIVER_MEMORY", "LOOPBACK", "get_spark", "local_spark_conf"]

#: The address every Spark socket binds to and advertises.
LOOPBACK = "127.0.0.1"

#: Driver heap for a machine of 2 cores and 24 GiB shared with Airflow and other jobs.
DEFAULT_DRIVER_MEMORY = "4g"


def local_spark_conf(
    *, app_name: str, driver_memory: str = DEFAULT_DRIVER_MEMORY, shuffle_partitions: int = 4
) -> dict[str, str]:
    """Return the Spark settings of a local session bound to the loopback interface.

    :param app_name: the application's name in Spark's logs, e.g. the job identifier.
    :param driver_memory: the driver JVM's heap (``-Xmx``), in Spark's size syntax ("4g").
    :param shuffle_partitions: partitions after a shuffle; Spark's default of 200 only adds
        scheduling overhead on a machine with two cores.
    """
    conf = {
        "spark.app.name": app_name,
        "spark.master": "local[*]",
        "spark.driver.memory": driver_memory,
        "spark.driver.host": LOOPBACK,
        "spark.driver.bindAddress": LOOPBACK,
        "spark.ui.enabled": "false",
        "spark.ui.showConsoleProgress": "false",
        "spark.sql.shuffle.partitions": str(shuffle_partitions),
        "spark.sql.session.timeZone": "UTC",
        "spark.pyspark.python": sys.executable,
        "spark.pyspark.driver.python": sys.executable,
    }
    return conf


def get_spark(
    app_name: str = "atmo-local", *, driver_memory: str = DEFAULT_DRIVER_MEMORY
) -> SparkSession:
    """Return the notebook's Spark session, starting the driver JVM on the first call.

    Later calls return the same session; their settings are ignored, as with
    ``SparkSession.builder.getOrCreate()``.

    :param app_name: the application's name in Spark's logs, e.g. the job identifier.
    :param driver_memory: the driver JVM's heap, in Spark's size syntax ("4g").
    """
    from pyspark.sql import SparkSession

    # Spark reads these before any configuration: without them it resolves the host name and
    # may warn about, or bind to, another interface.
    os.environ.setdefault("SPARK_LOCAL_IP", LOOPBACK)
    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)

    builder = SparkSession.builder
    for key, value in local_spark_conf(app_name=app_name, driver_memory=driver_memory).items():
        builder = builder.config(key, value)
    spark = builder.getOrCreate()
    spark.sparkContext.setLogLevel("WARN")
    return spark
