"""The web app as gunicorn runs it: its worker's HTTP behaviour, seen from a client."""

from __future__ import annotations

import http.client
import os
import socket
import subprocess
import sys
from urllib.parse import urlsplit

import pytest

from devstack.services import ServiceError, ensure_port_free


def connect(live_server) -> http.client.HTTPConnection:
    address = urlsplit(live_server.url)
    return http.client.HTTPConnection(address.hostname, address.port, timeout=10)


def test_installer_reads_share_one_connection_and_name_no_server(live_server, published):
    connection = connect(live_server)
    bodies = []
    for _ in range(3):
        connection.request("GET", "/simple/interop-twine/", headers={"Accept": "text/html"})
        response = connection.getresponse()
        bodies.append(response.read())
        assert response.status == 200
        assert response.getheader("Date")
        # Which server software (and version) answers is nobody's business.
        assert response.getheader("Server") is None
        assert not response.will_close
    assert bodies[0] == bodies[1] == bodies[2]
    assert b"interop_twine-1.0" in bodies[0]
    connection.close()


def test_a_body_too_large_for_the_web_app_is_refused_before_it_is_read(live_server):
    connection = connect(live_server)
    connection.putrequest("POST", "/account/login/")
    connection.putheader("Content-Type", "application/octet-stream")
    connection.putheader("Content-Length", str(64 * 1024 * 1024))
    connection.endheaders()
    # Far less than announced: the refusal comes once the limit is passed.
    chunk = b"x" * (1024 * 1024)
    with pytest.raises(OSError):  # the server may close before all of it is sent
        for _ in range(64):
            connection.send(chunk)
    response = connection.getresponse()
    assert response.status == 413
    assert b"/legacy/" in response.read()


def test_each_web_worker_listens_on_its_own_socket(live_server):
    port = urlsplit(live_server.url).port
    listening = set()
    with open("/proc/net/tcp") as table:
        for line in table.readlines()[1:]:
            fields = line.split()
            local, state, inode = fields[1], fields[3], fields[9]
            if state == "0A" and int(local.split(":")[1], 16) == port:
                listening.add(inode)
    # WEB_CONCURRENCY=2 in the test server: one SO_REUSEPORT socket per worker.
    assert len(listening) == 2


def test_a_port_in_use_is_refused_before_anything_starts():
    with socket.socket() as held:
        held.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        held.bind(("127.0.0.1", 0))
        held.listen()
        port = held.getsockname()[1]
        with pytest.raises(ServiceError, match=f"127.0.0.1:{port} is already in use"):
            ensure_port_free(port, "the web app")
    ensure_port_free(port, "the web app")  # free again once closed


def test_make_serve_refuses_a_busy_port_in_one_line_before_starting_anything(tmp_path):
    with socket.socket() as held:
        held.bind(("127.0.0.1", 0))
        held.listen()
        port = held.getsockname()[1]
        result = subprocess.run(
            [sys.executable, "-m", "devstack.services", "serve"],
            env={**os.environ, "WAREHOUSE_DEV_WEB_PORT": str(port)},
            capture_output=True,
            text=True,
            timeout=60,
        )
    assert result.returncode == 1
    assert result.stderr.strip() == (
        f"warehouse: the web app: 127.0.0.1:{port} is already in use "
        "([Errno 98] Address already in use)"
    )
    assert "Traceback" not in result.stderr and result.stdout == ""
