"""Cluster pages: detail, extending the lifetime, terminating; 404 for others' clusters."""

from __future__ import annotations

from datetime import timedelta

import pytest

from atmo_provider.records.models import Cluster
from tests.plugin.conftest import csrf_token


def test_detail_shows_the_ssh_command_of_a_ready_cluster(client, login, seed):
    cluster = seed.cluster(
        "alice", most_recent_status="WAITING", master_address="ec2-1-2-3-4.compute.amazonaws.com"
    )
    login("alice", "User")

    html = client.get(f"/atmo/clusters/{cluster.id}").text

    assert "ssh hadoop@ec2-1-2-3-4.compute.amazonaws.com" in html


def test_detail_has_no_ssh_command_before_the_cluster_is_ready(client, login, seed):
    cluster = seed.cluster("alice", most_recent_status="BOOTSTRAPPING", master_address="ec2-x")
    login("alice", "User")

    html = client.get(f"/atmo/clusters/{cluster.id}").text

    assert "ssh hadoop@" not in html
    assert "once the cluster is ready" in html


def test_detail_sends_the_clusters_modification_date(client, login, seed):
    cluster = seed.cluster("alice")
    login("alice", "User")

    response = client.get(f"/atmo/clusters/{cluster.id}")

    assert response.headers["X-ATMO-Modified-Date"] == cluster.modified_at.isoformat(
        timespec="seconds"
    )


def test_another_users_cluster_answers_exactly_like_a_missing_one(client, login, seed):
    bobs = seed.cluster("bob")
    login("alice", "User")

    forbidden = client.get(f"/atmo/clusters/{bobs.id}")
    missing = client.get("/atmo/clusters/999999")

    assert forbidden.status_code == missing.status_code == 404
    assert forbidden.text == missing.text
    assert bobs.identifier not in forbidden.text


def test_non_numeric_cluster_id_is_not_found(client, login):
    login("alice", "User")

    assert client.get("/atmo/clusters/abc").status_code == 404


def test_extend_adds_hours_counts_the_extension_and_rearms_the_warning(client, login, seed):
    cluster = seed.cluster("alice", expiration_mail_sent=True)
    login("alice", "User")
    token = csrf_token(client, f"/atmo/clusters/{cluster.id}")

    response = client.post(
        f"/atmo/clusters/{cluster.id}/extend", data={"hours": "4", "csrf_token": token}
    )

    after = seed.get(Cluster, cluster.id)
    assert response.status_code == 303
    assert response.headers["location"] == f"/atmo/clusters/{cluster.id}?done=extended"
    assert after.expires_at == cluster.expires_at + timedelta(hours=4)
    assert after.lifetime_extension_count == 1
    assert after.expiration_mail_sent is False


@pytest.mark.parametrize("hours", ["30", "1", "eight", "", "-4", "2.5"])
def test_extend_outside_two_to_twenty_four_hours_is_a_bad_request(client, login, seed, hours):
    cluster = seed.cluster("alice")
    login("alice", "User")
    token = csrf_token(client, f"/atmo/clusters/{cluster.id}")

    response = client.post(
        f"/atmo/clusters/{cluster.id}/extend", data={"hours": hours, "csrf_token": token}
    )

    assert response.status_code == 400
    assert "a whole number of hours from 2 to 24" in response.text
    assert seed.get(Cluster, cluster.id).expires_at == cluster.expires_at


def test_extend_of_a_terminated_cluster_is_refused(client, login, seed):
    cluster = seed.cluster("alice", most_recent_status="TERMINATED")
    login("alice", "User")
    token = csrf_token(client, f"/atmo/clusters/{cluster.id}")

    response = client.post(
        f"/atmo/clusters/{cluster.id}/extend", data={"hours": "4", "csrf_token": token}
    )

    assert response.status_code == 409
    assert "Only active clusters can be extended" in response.text


def test_terminating_cluster_can_neither_be_extended_nor_terminated_again(client, login, seed):
    cluster = seed.cluster("alice", jobflow_id="j-BYE", most_recent_status="TERMINATING")
    login("alice", "User")
    token = csrf_token(client, f"/atmo/clusters/{cluster.id}")

    extend = client.post(
        f"/atmo/clusters/{cluster.id}/extend", data={"hours": "4", "csrf_token": token}
    )
    terminate = client.post(f"/atmo/clusters/{cluster.id}/terminate", data={"csrf_token": token})

    assert (extend.status_code, terminate.status_code) == (409, 409)
    assert "being terminated" in extend.text


def test_extend_of_another_users_cluster_is_not_found(client, login, seed):
    bobs = seed.cluster("bob")
    login("alice", "User")
    token = csrf_token(client, "/atmo/")

    response = client.post(
        f"/atmo/clusters/{bobs.id}/extend", data={"hours": "4", "csrf_token": token}
    )

    assert response.status_code == 404
    assert seed.get(Cluster, bobs.id).lifetime_extension_count == 0


@pytest.mark.parametrize("status", ["TERMINATED", "TERMINATING"])
def test_ended_or_ending_cluster_offers_no_actions(client, login, seed, status):
    cluster = seed.cluster("alice", most_recent_status=status)
    login("alice", "User")

    html = client.get(f"/atmo/clusters/{cluster.id}").text

    assert "/extend" not in html
    assert "/terminate" not in html


def _launch_on_embedded_aws(embedded_aws) -> str:
    emr = embedded_aws.client("emr")
    response = emr.run_job_flow(
        Name="atmo-test-cluster",
        ReleaseLabel="emr-6.15.0",
        Instances={
            "MasterInstanceType": "m5.xlarge",
            "InstanceCount": 1,
            "KeepJobFlowAliveWhenNoSteps": True,
        },
        JobFlowRole="EMR_EC2_DefaultRole",
        ServiceRole="EMR_DefaultRole",
    )
    return response["JobFlowId"]


def test_terminate_stops_the_emr_cluster_and_marks_the_record(
    client, login, seed, clean_embedded_aws
):
    jobflow_id = _launch_on_embedded_aws(clean_embedded_aws)
    cluster = seed.cluster("alice", jobflow_id=jobflow_id, most_recent_status="WAITING")
    login("alice", "User")
    token = csrf_token(client, f"/atmo/clusters/{cluster.id}")

    response = client.post(f"/atmo/clusters/{cluster.id}/terminate", data={"csrf_token": token})

    state = clean_embedded_aws.client("emr").describe_cluster(ClusterId=jobflow_id)["Cluster"][
        "Status"
    ]["State"]
    assert response.status_code == 303
    assert response.headers["location"] == f"/atmo/clusters/{cluster.id}?done=terminating"
    assert state in ("TERMINATING", "TERMINATED")
    assert seed.get(Cluster, cluster.id).most_recent_status == "TERMINATING"


def test_terminate_of_a_terminated_cluster_is_refused(client, login, seed):
    cluster = seed.cluster("alice", jobflow_id="j-GONE", most_recent_status="TERMINATED")
    login("alice", "User")
    token = csrf_token(client, f"/atmo/clusters/{cluster.id}")

    response = client.post(f"/atmo/clusters/{cluster.id}/terminate", data={"csrf_token": token})

    assert response.status_code == 409
    assert seed.get(Cluster, cluster.id).most_recent_status == "TERMINATED"


def test_terminate_of_another_users_cluster_is_not_found(client, login, seed):
    bobs = seed.cluster("bob", jobflow_id="j-BOB")
    login("alice", "User")
    token = csrf_token(client, "/atmo/")

    response = client.post(f"/atmo/clusters/{bobs.id}/terminate", data={"csrf_token": token})

    assert response.status_code == 404
    assert seed.get(Cluster, bobs.id).most_recent_status == "WAITING"


def test_terminate_reports_an_emr_failure_without_marking_the_record(
    client, login, seed, clean_embedded_aws
):
    cluster = seed.cluster("alice", jobflow_id="j-DOESNOTEXIST", most_recent_status="WAITING")
    login("alice", "User")
    token = csrf_token(client, f"/atmo/clusters/{cluster.id}")

    response = client.post(f"/atmo/clusters/{cluster.id}/terminate", data={"csrf_token": token})

    assert response.status_code == 502
    assert "try again" in response.text
    assert seed.get(Cluster, cluster.id).most_recent_status == "WAITING"
