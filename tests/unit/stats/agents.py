"""Real user agent strings of each family, as installers and crawlers send them."""

PIP = (
    'pip/24.0 {"ci":null,"cpu":"x86_64","distro":{"id":"jammy","libc":{"lib":"glibc",'
    '"version":"2.35"},"name":"Ubuntu","version":"22.04"},"implementation":{"name":"CPython",'
    '"version":"3.12.1"},"installer":{"name":"pip","version":"24.0"},"openssl_version":'
    '"OpenSSL 3.0.2 15 Mar 2022","python":"3.12.1","rustc_version":"1.75.0",'
    '"setuptools_version":"69.0.3","system":{"name":"Linux","release":"6.5.0-14-generic"}}'
)
PIP_WINDOWS_PY2 = (
    'pip/20.3.4 {"ci":null,"cpu":"AMD64","implementation":{"name":"CPython","version":"2.7.18"},'
    '"installer":{"name":"pip","version":"20.3.4"},"openssl_version":"OpenSSL 1.1.1k",'
    '"python":"2.7.18","system":{"name":"Windows","release":"10"}}'
)
UV = (
    'uv/0.5.11 {"installer":{"name":"uv","version":"0.5.11"},"python":"3.13.1",'
    '"implementation":{"name":"CPython","version":"3.13.1"},"distro":{"name":"macOS",'
    '"version":"14.6","id":null,"libc":null},"system":{"name":"Darwin","release":"23.6.0"},'
    '"cpu":"arm64","openssl_version":null,"setuptools_version":null,"rustc_version":null,'
    '"ci":null}'
)
POETRY = "poetry/1.8.3 CPython/3.11.9 Linux/6.8.0-1015-azure"
PDM = "pdm/2.22.1 CPython/3.12.8"
BANDERSNATCH = "bandersnatch/6.8.0 (CPython 3.11.7-final0, Linux x86_64)"
DEVPI = "devpi-server/6.14.0 (py3.12.3; linux)"
CHROME = (
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/131.0.0.0 Safari/537.36"
)
FIREFOX = "Mozilla/5.0 (X11; Ubuntu; Linux x86_64; rv:133.0) Gecko/20100101 Firefox/133.0"
CURL = "curl/8.5.0"
GOOGLEBOT = "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)"
BINGBOT = "Mozilla/5.0 (compatible; bingbot/2.0; +http://www.bing.com/bingbot.htm)"
DATADOG = "Datadog Agent/7.59.0"
GO_HTTP = "Go-http-client/1.1"
UNKNOWN = "MyInternalTool/3.2 (+https://example.com)"

ALL = {
    "pip": PIP,
    "pip-py2": PIP_WINDOWS_PY2,
    "uv": UV,
    "poetry": POETRY,
    "pdm": PDM,
    "bandersnatch": BANDERSNATCH,
    "devpi": DEVPI,
    "chrome": CHROME,
    "firefox": FIREFOX,
    "curl": CURL,
    "googlebot": GOOGLEBOT,
    "bingbot": BINGBOT,
    "datadog": DATADOG,
    "go": GO_HTTP,
    "unknown": UNKNOWN,
}


def download_line(
    agent: str,
    *,
    project: str = "sampleproject",
    version: str = "1.0",
    ptype: str = "bdist_wheel",
    country: str = "DE",
    stamp: str = "Fri, 04 Dec 2026 21:55:44 GMT",
    filename: str = "sampleproject-1.0-py3-none-any.whl",
) -> str:
    return (
        f"download|{stamp}|{country}|/packages/ab/cd/ef/{filename}|TLSv1.3|"
        f"TLS_AES_128_GCM_SHA256|{project}|{version}|{ptype}|{agent}\n"
    )


def simple_line(agent: str, *, project: str = "sampleproject", stamp: str = "") -> str:
    stamp = stamp or "Fri, 04 Dec 2026 21:55:44 GMT"
    return f"simple|{stamp}|US|/simple/{project}/|TLSv1.3|TLS_AES_128_GCM_SHA256||||{agent}\n"
