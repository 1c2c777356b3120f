"""Unit tests of the extra links: EMR console, S3 logs and Spark history URLs."""

from __future__ import annotations

from atmo_provider.aws.s3 import console_url, join_s3_uri, normalize_s3_uri, parse_s3_uri
from atmo_provider.links import EmrClusterLogsLink, EmrConsoleLink, SparkHistoryLink

INFO = {
    "job_flow_id": "j-ABC",
    "region_name": "eu-central-1",
    "log_uri": "s3://atmo-logs/clusters/c1/2024-05-17T093005Z",
}


def test_the_console_link_opens_the_cluster_in_its_region():
    assert EmrConsoleLink().format_link(INFO) == (
        "https://console.aws.amazon.com/emr/home?region=eu-central-1#/clusterDetails/j-ABC"
    )


def test_the_logs_link_lists_the_clusters_folder_under_its_log_uri():
    assert EmrClusterLogsLink().format_link(INFO) == (
        "https://s3.console.aws.amazon.com/s3/buckets/atmo-logs?region=eu-central-1"
        "&prefix=clusters/c1/2024-05-17T093005Z/j-ABC/"
    )


def test_a_cluster_without_log_uri_has_no_logs_link():
    assert EmrClusterLogsLink().format_link({**INFO, "log_uri": None}) == ""


def test_the_spark_history_link_opens_the_clusters_applications():
    link = SparkHistoryLink().format_link(INFO)

    assert link.startswith("https://console.aws.amazon.com/emr/home?region=eu-central-1")
    assert "clusterDetails/j-ABC" in link and "applications" in link


def test_links_have_distinct_names():
    names = {EmrConsoleLink().name, EmrClusterLogsLink().name, SparkHistoryLink().name}

    assert len(names) == 3


def test_s3_uris_parse_join_and_normalize():
    assert parse_s3_uri("s3n://bucket/a/b.gz") == ("bucket", "a/b.gz")
    assert join_s3_uri("s3://bucket/a/", "/b", "c/") == "s3://bucket/a/b/c"
    assert normalize_s3_uri("s3a://bucket/x") == "s3://bucket/x"
    assert (
        console_url("s3://bucket", None) == "https://s3.console.aws.amazon.com/s3/buckets/bucket"
    )
