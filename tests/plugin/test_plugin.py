"""Airflow finds the plugin in the plugins folder, mounts its app at /atmo and adds the tab."""

from __future__ import annotations

from pathlib import Path

from atmo_provider.plugin import AtmoPlugin

PLUGINS_FOLDER = Path(__file__).resolve().parents[2] / "plugins"


def test_plugin_mounts_one_app_at_atmo():
    apps = AtmoPlugin().fastapi_apps

    assert [(entry["url_prefix"], entry["name"]) for entry in apps] == [("/atmo", "ATMO")]


def test_plugin_adds_a_top_level_nav_entry_with_the_trailing_slash():
    (view,) = AtmoPlugin.external_views

    assert (view["name"], view["href"], view["destination"]) == ("ATMO", "/atmo/", "nav")
    assert (view["url_route"], view["nav_top_level"]) == ("atmo", True)


def test_plugins_folder_file_gives_airflow_the_plugin():
    from airflow._shared.plugins_manager import _load_plugins_from_plugin_directory

    plugins, errors = _load_plugins_from_plugin_directory(plugins_folder=str(PLUGINS_FOLDER))

    assert errors == {}
    assert [plugin.name for plugin in plugins] == ["atmo"]


def test_airflow_api_server_serves_the_tab_and_requires_a_login(airflow_db):
    from airflow.api_fastapi.app import create_app
    from fastapi.testclient import TestClient

    with TestClient(create_app(apps="core"), follow_redirects=False) as client:
        tab = client.get("/atmo/")
        css = client.get("/atmo/static/atmo.css")
        icon = client.get(AtmoPlugin.external_views[0]["icon"])

    assert tab.status_code == 401
    assert css.status_code == 200
    assert css.headers["content-type"].startswith("text/css")
    assert icon.headers["content-type"].startswith("image/svg+xml")
