"""The ATMO tab in a real browser against a real Airflow (the local stack, FAB logins).

Chromium comes from Debian's ``chromium`` package and is driven by Playwright; nothing is
downloaded. Without ``/usr/bin/chromium`` the tests are skipped, unless ``ATMO_REQUIRE_BROWSER``
is set, which makes that a failure. Screenshots go to ``test-output/screenshots/``.
"""

from __future__ import annotations

import os
import time
import uuid
from collections.abc import Callable, Iterator
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import pytest

from atmo_provider.records.db import engine_from_url, session_scope
from atmo_provider.records.models import Cluster, SparkJob
from atmo_provider.settings import AtmoSettings

CHROMIUM = Path("/usr/bin/chromium")
MISSING_CHROMIUM = (
    "/usr/bin/chromium is missing; install Debian's package: apt-get install -y chromium"
)

pytestmark = [
    pytest.mark.harness,
    pytest.mark.browser,
    # Checked first (session scope, like the stack), so a missing browser fails before startup.
    pytest.mark.usefixtures("chromium"),
    # Skipped before the stack starts; with ATMO_REQUIRE_BROWSER the fixture fails instead.
    pytest.mark.skipif(
        not CHROMIUM.exists() and not os.environ.get("ATMO_REQUIRE_BROWSER"),
        reason=f"{MISSING_CHROMIUM} (set ATMO_REQUIRE_BROWSER=1 to make this a failure)",
    ),
]
SCREENSHOTS = Path(__file__).resolve().parents[2] / "test-output" / "screenshots"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
TIMEOUT_MS = 30_000


@pytest.fixture(scope="session")
def chromium() -> str:
    """The path of the system's Chromium; fails without it or without Playwright."""
    if not CHROMIUM.exists():
        pytest.fail(f"ATMO_REQUIRE_BROWSER is set but {MISSING_CHROMIUM}")
    try:
        import playwright  # noqa: F401
    except ImportError:
        pytest.fail("Playwright for Python is missing: install the pip package playwright")
    return str(CHROMIUM)


@pytest.fixture(scope="module")
def playwright(chromium) -> Iterator[Any]:
    """Playwright's driver; it launches the system's Chromium, never a downloaded one."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as driver:
        yield driver


@pytest.fixture
def open_browser(playwright, chromium, tmp_path) -> Iterator[Callable[[str], Any]]:
    """Open a fresh Chromium profile for a user; return its page."""
    contexts = []

    def open_for(name: str) -> Any:
        context = playwright.chromium.launch_persistent_context(
            str(tmp_path / f"profile-{name}"),
            executable_path=chromium,
            headless=True,
            args=CHROMIUM_ARGS,
            viewport={"width": 1440, "height": 900},
        )
        context.set_default_timeout(TIMEOUT_MS)
        contexts.append(context)
        return context.pages[0] if context.pages else context.new_page()

    yield open_for
    for context in contexts:
        context.close()


def _shoot(page: Any, name: str) -> None:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / f"{name}.png"), full_page=True)


def _log_in(page: Any, stack: Any, username: str) -> None:
    page.goto(f"{stack.base_url}/auth/login/")
    page.fill("input[name='username']", username)
    page.fill("input[name='password']", stack.password(username))
    page.locator("input[type='submit'], button[type='submit']").first.click()
    page.wait_for_url(lambda url: "/auth/login" not in url)


@pytest.fixture(scope="module")
def records(airflow_stack) -> Iterator[Any]:
    """The records database the stack's API server reads."""
    engine = engine_from_url(f"sqlite:///{airflow_stack.home / 'atmo.db'}")
    yield engine
    engine.dispose()


def _launch_emr_cluster(stack: Any) -> tuple[str, str]:
    import boto3

    emr = boto3.client(
        "emr",
        endpoint_url=stack.aws_endpoint_url,
        region_name=stack.region_name,
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )
    response = emr.run_job_flow(
        Name="atmo-browser-test",
        ReleaseLabel="emr-6.15.0",
        Instances={
            "MasterInstanceType": "m5.xlarge",
            "InstanceCount": 1,
            "KeepJobFlowAliveWhenNoSteps": True,
        },
        JobFlowRole="EMR_EC2_DefaultRole",
        ServiceRole="EMR_DefaultRole",
    )
    jobflow_id = response["JobFlowId"]

    # The stack's sync copies EMR's state into the records, so seed a cluster that is ready.
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        cluster = emr.describe_cluster(ClusterId=jobflow_id)["Cluster"]
        if cluster["Status"]["State"] == "WAITING":
            return jobflow_id, cluster["MasterPublicDnsName"]
        time.sleep(0.2)
    raise AssertionError(f"cluster {jobflow_id} did not become WAITING within 60 s")


def _emr_state(stack: Any, jobflow_id: str) -> str:
    import boto3

    emr = boto3.client(
        "emr",
        endpoint_url=stack.aws_endpoint_url,
        region_name=stack.region_name,
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )
    return emr.describe_cluster(ClusterId=jobflow_id)["Cluster"]["Status"]["State"]


@pytest.fixture(scope="module")
def seeded(airflow_stack, records) -> dict[str, Any]:
    """An analyst's active and terminated clusters and Spark job, named uniquely."""
    suffix = uuid.uuid4().hex[:6]
    jobflow_id, master_address = _launch_emr_cluster(airflow_stack)
    with session_scope(records) as session:
        active = Cluster(
            identifier=f"browser-active-{suffix}",
            created_by="analyst",
            created_by_email="analyst@example.com",
            emr_release="6.15.0",
            size=2,
            lifetime=8,
            jobflow_id=jobflow_id,
            most_recent_status="WAITING",
            master_address=master_address,
            started_at=datetime.now(timezone.utc),
        ).save(session)
        old = Cluster(
            identifier=f"browser-old-{suffix}",
            created_by="analyst",
            created_by_email="analyst@example.com",
            emr_release="6.15.0",
            most_recent_status="TERMINATED",
        ).save(session)
        job = SparkJob(
            identifier=f"browser-nightly-{suffix}",
            created_by="analyst",
            created_by_email="analyst@example.com",
            description="Counts **active clients** every night.",
            notebook_uri="s3://atmo-code/jobs/browser/nightly.ipynb",
            interval_in_hours=24,
            start_date=datetime(2024, 1, 1, tzinfo=timezone.utc),
        ).save(session, settings=AtmoSettings())
    return {"active": active, "old": old, "job": job, "jobflow_id": jobflow_id}


def test_analyst_uses_the_tab_from_the_nav_to_terminating_a_cluster(
    airflow_stack, open_browser, seeded, records
):
    from playwright.sync_api import expect

    active, old = seeded["active"], seeded["old"]
    page = open_browser("analyst")
    _log_in(page, airflow_stack, "analyst")

    page.goto(f"{airflow_stack.base_url}/")
    nav_link = page.get_by_role("link", name="ATMO")
    expect(nav_link).to_be_visible()
    nav_link.click()
    frame = page.frame_locator("iframe")
    expect(frame.get_by_role("heading", name="Dashboard")).to_be_visible()
    expect(frame.get_by_role("link", name=active.identifier)).to_be_visible()
    _shoot(page, "01-atmo-tab-in-airflow")

    page.clock.install()
    page.goto(f"{airflow_stack.base_url}/atmo/")
    expect(page.get_by_role("link", name=active.identifier)).to_be_visible()
    expect(page.get_by_role("link", name=old.identifier)).to_have_count(0)
    page.get_by_role("link", name="Terminated", exact=True).click()
    expect(page.get_by_role("link", name=old.identifier)).to_be_visible()
    expect(page.get_by_role("link", name=active.identifier)).to_have_count(0)
    _shoot(page, "02-dashboard-terminated-filter")
    page.get_by_role("link", name="All", exact=True).click()
    expect(page.get_by_role("link", name=old.identifier)).to_be_visible()
    expect(page.get_by_role("link", name=active.identifier)).to_be_visible()

    page.get_by_role("link", name=active.identifier).click()
    expect(page.get_by_role("heading", name=active.identifier)).to_be_visible()
    expect(page.get_by_text(f"ssh hadoop@{active.master_address}")).to_be_visible()
    _shoot(page, "03-cluster-detail")

    page.fill("input[name='hours']", "4")
    page.get_by_role("button", name="Extend").click()
    expect(page.get_by_role("status")).to_have_text("The cluster's lifetime was extended.")
    _shoot(page, "04-cluster-extended")

    page.once("dialog", lambda dialog: dialog.accept())
    page.get_by_role("button", name="Terminate now").click()
    expect(page.get_by_role("status")).to_have_text("The cluster is being terminated.")
    expect(page.get_by_text("The cluster is shutting down.")).to_be_visible()
    _shoot(page, "05-cluster-terminating")

    with session_scope(records) as session:
        record = session.get(Cluster, active.id)
        extensions, status = record.lifetime_extension_count, record.most_recent_status
    assert extensions == 1
    assert status == "TERMINATING"
    assert _emr_state(airflow_stack, seeded["jobflow_id"]) in ("TERMINATING", "TERMINATED")


def test_open_page_asks_for_a_refresh_when_its_cluster_changes(
    airflow_stack, open_browser, seeded, records
):
    from playwright.sync_api import expect

    old = seeded["old"]
    page = open_browser("analyst-polling")
    _log_in(page, airflow_stack, "analyst")
    page.clock.install()
    page.goto(f"{airflow_stack.base_url}/atmo/clusters/{old.id}")
    notice = page.locator("#atmo-refresh")
    page.clock.run_for(61_000)
    expect(notice).to_be_hidden()

    with session_scope(records) as session:
        session.get(Cluster, old.id).status_reason_message = "User request"
    page.clock.run_for(61_000)

    expect(notice).to_be_visible()
    _shoot(page, "06-refresh-notice")


def test_maintainer_sees_an_analysts_job_under_all(airflow_stack, open_browser, seeded):
    from playwright.sync_api import expect

    job = seeded["job"]
    page = open_browser("maintainer")
    _log_in(page, airflow_stack, "maintainer")

    page.goto(f"{airflow_stack.base_url}/atmo/?jobs=mine")
    expect(page.get_by_role("link", name=job.identifier)).to_have_count(0)
    page.get_by_role("link", name="All", exact=True).last.click()

    row = page.get_by_role("row").filter(has=page.get_by_role("link", name=job.identifier))
    expect(row).to_be_visible()
    expect(row.get_by_role("cell", name="analyst", exact=True)).to_be_visible()
    expect(page.get_by_role("columnheader", name="Owner")).to_be_visible()
    _shoot(page, "07-maintainer-all-jobs")

    page.get_by_role("link", name=job.identifier).click()
    expect(page.get_by_role("heading", name=job.identifier)).to_be_visible()
    expect(page.locator(".description strong")).to_have_text("active clients")
    _shoot(page, "08-job-detail")
