def test_show(clients, uploader, dists, published, live_server, tmp_path):
    b = dists["dupe"]; c = dists["dupe-changed"]
    print("TWINE1", clients.twine_upload(uploader.token, b.files).stdout)
    print("TWINE2", clients.twine_upload(uploader.token, c.files, check=False).stdout)
    print("UV", clients.uv_publish(uploader.token, b.files, check_url=True, check=False).stdout)
    print("UVBAD", clients.uv_publish(uploader.token, c.files, check=False).stdout)
    print("UVTOK", clients.uv_publish("pypi-bad", c.files, check=False).stdout)
    print("PIP", clients.pip_install(tmp_path/"s", "interop-twine").stdout)
    print("PIPCFG", clients.run(".venv/bin/python" if False else __import__("sys").executable, "-m", "pip", "config", "debug").stdout)
    print("UVPIP", clients.uv_pip_install(clients.uv_venv(tmp_path/"v"), "interop-twine", "-v", check=False).stdout[-3000:])
