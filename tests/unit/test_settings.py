import pytest

from warehouse.settings import RateLimit, Settings, SettingsError


def test_development_defaults_need_no_environment():
    settings = Settings.from_env({})
    assert settings.env == "development"
    assert settings.require_2fa is False
    assert settings.max_file_size == 100 * 1024 * 1024
    # One token must be able to create 1,000 projects in a benchmark.
    assert settings.new_project_ratelimit.count >= 1000


def test_production_profile_tightens_and_demands_a_secret():
    with pytest.raises(SettingsError, match="WAREHOUSE_SECRET_KEY"):
        Settings.from_env({"WAREHOUSE_ENV": "production"})
    with pytest.raises(SettingsError, match="WAREHOUSE_SITE_URL"):
        Settings.from_env({"WAREHOUSE_ENV": "production", "WAREHOUSE_SECRET_KEY": "s3cret"})
    settings = Settings.from_env(
        {
            "WAREHOUSE_ENV": "production",
            "WAREHOUSE_SECRET_KEY": "s3cret",
            "WAREHOUSE_SITE_URL": "https://pypi.example.org",
        }
    )
    assert settings.require_2fa is True
    assert settings.log_format == "json"
    assert settings.upload_ratelimit == RateLimit(20, 60)


def test_environment_overrides_and_libpq_urls_are_accepted():
    settings = Settings.from_env(
        {
            "DATABASE_URL": "postgresql://u@h:1/db",
            "WAREHOUSE_MAX_FILE_SIZE": "1024",
            "WAREHOUSE_UPLOAD_RATELIMIT": "5/minute",
            "WAREHOUSE_REQUIRE_2FA": "yes",
        }
    )
    assert settings.database_url == "postgresql+psycopg://u@h:1/db"
    assert settings.max_file_size == 1024
    assert settings.upload_ratelimit == RateLimit(5, 60)
    assert settings.require_2fa is True


@pytest.mark.parametrize(
    "env",
    [
        {"WAREHOUSE_MAX_FILE_SIZE": "big"},
        {"WAREHOUSE_UPLOAD_RATELIMIT": "lots"},
        {"WAREHOUSE_REQUIRE_2FA": "maybe"},
        {"WAREHOUSE_FILES_BACKEND": "ftp"},
        # Outside datasets/, store audits would take the datasets for orphan blobs.
        {"WAREHOUSE_STATS_DATASET_PREFIX": "exports/"},
    ],
)
def test_bad_values_name_the_variable(env):
    with pytest.raises(SettingsError, match="WAREHOUSE_"):
        Settings.from_env(env)


def test_trusted_proxies_and_metrics_allow_must_be_networks():
    settings = Settings.from_env({"WAREHOUSE_TRUSTED_PROXIES": "172.30.80.80, 10.0.0.0/8"})
    assert settings.trusted_proxies == "172.30.80.80, 10.0.0.0/8"
    assert Settings.from_env({}).trusted_proxies == ""  # no proxy: X-Forwarded-For is ignored
    with pytest.raises(SettingsError, match="WAREHOUSE_TRUSTED_PROXIES: 'varnish'"):
        Settings.from_env({"WAREHOUSE_TRUSTED_PROXIES": "varnish"})
    with pytest.raises(SettingsError, match="WAREHOUSE_METRICS_ALLOW: '10.0.0.300'"):
        Settings.from_env({"WAREHOUSE_METRICS_ALLOW": "127.0.0.1,10.0.0.300"})
