"""docker-compose.yml and the Dockerfile, checked without Docker: the shape and the settings."""

from __future__ import annotations

import re

import pytest

from warehouse.settings import REPO_ROOT, Settings

yaml = pytest.importorskip("yaml")

# Read by gunicorn's config files, prometheus_client or the images, not by Settings.
NOT_SETTINGS = {
    "PROMETHEUS_MULTIPROC_DIR",
    "WAREHOUSE_UPLOAD_TMPDIR",
    "WEB_CONCURRENCY",
    "UPLOADS_CONCURRENCY",
    "WAREHOUSE_BIND",
}
APP_SERVICES = {"web", "web-uploads", "worker", "beat", "migrate"}


@pytest.fixture(scope="module")
def compose():
    return yaml.safe_load((REPO_ROOT / "docker-compose.yml").read_text())


def settings_names() -> set[str]:
    source = (REPO_ROOT / "warehouse" / "settings.py").read_text()
    return set(re.findall(r'take\("([A-Z0-9_]+)"', source)) | {"WAREHOUSE_ENV"}


def test_has_every_part_of_the_shape(compose):
    assert set(compose["services"]) >= {
        "postgres",
        "redis",
        "opensearch",
        "s3",
        "varnish",
        "mailpit",
        *APP_SERVICES,
    }
    assert compose["services"]["postgres"]["image"].startswith("postgres:15")
    assert compose["services"]["redis"]["image"].startswith("redis:7")


def test_app_environment_names_are_settings(compose):
    known = settings_names() | NOT_SETTINGS
    for name in APP_SERVICES:
        env = compose["services"][name]["environment"]
        unknown = set(env) - known
        assert not unknown, f"{name}: {sorted(unknown)} are not read by Settings.from_env"


def test_app_environment_is_valid_settings(compose):
    env = {k: str(v) for k, v in compose["services"]["web"]["environment"].items()}
    settings = Settings.from_env(env)
    assert settings.search_backend == "opensearch" and settings.cache_backend == "s3"
    assert settings.log_format == "json"


def test_commands_match_make_serve(compose):
    services = compose["services"]
    assert "gunicorn-web.conf.py" in " ".join(services["web"]["command"])
    assert "gunicorn-uploads.conf.py" in " ".join(services["web-uploads"]["command"])
    assert "worker" in " ".join(services["worker"]["command"])
    assert "celery -A warehouse.tasks beat" in " ".join(services["beat"]["command"])
    # Every process serves metrics, as under make serve.
    assert services["worker"]["environment"]["WAREHOUSE_WORKER_METRICS_PORT"]
    assert services["beat"]["environment"]["WAREHOUSE_BEAT_METRICS_PORT"]
    mounts = " ".join(services["varnish"]["volumes"])
    assert "default.vcl" in mounts and "backends.docker.vcl" in mounts
    assert (REPO_ROOT / "config" / "varnish" / "backends.docker.vcl").exists()


def test_dockerfile_is_multi_stage_and_unprivileged():
    text = (REPO_ROOT / "Dockerfile").read_text()
    assert text.count("FROM ") == 2 and "AS builder" in text
    final = text.split("FROM python:3.11-slim\n", 1)[1]
    assert "USER warehouse" in final
    assert "apt-get" not in final and "uv" not in final.split("COPY --from=builder")[0]


def test_varnish_is_the_apps_one_trusted_proxy(compose):
    import ipaddress

    services = compose["services"]
    varnish = services["varnish"]["networks"]["default"]["ipv4_address"]
    (subnet,) = (c["subnet"] for c in compose["networks"]["default"]["ipam"]["config"])
    assert ipaddress.ip_address(varnish) in ipaddress.ip_network(subnet)
    for name in APP_SERVICES:
        assert services[name]["environment"]["WAREHOUSE_TRUSTED_PROXIES"] == varnish, name
    # Purges come from the workers on that network; nothing else on it is trusted.
    acl = (REPO_ROOT / "config" / "varnish" / "backends.docker.vcl").read_text()
    network = ipaddress.ip_network(subnet)
    assert f'"{network.network_address}"/{network.prefixlen};' in acl
