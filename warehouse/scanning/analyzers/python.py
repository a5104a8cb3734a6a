"""Python source analysis on the AST, with a light, flow-insensitive taint of values.

The module is parsed once. Every expression gets a set of *tags* saying where its value may come
from (``decode``, ``decompress``, ``marshal``, ``network``, ``literal``, ``env-all``,
``sensitive``, ``file``, ...). Tags flow through assignments (by variable name, module-wide),
``for`` targets, calls of functions defined in the same module (to their parameters), method
calls on tagged values (``.read()``, ``.decode()``, ``.content``) and string operations. Sinks
(``exec``, subprocess, network sends, ``marshal.loads``) then look at the tags of their
arguments: ``exec`` of a decoded value is obfuscation, not a dynamic import.

``context`` is ``install`` for code that runs when a package is installed (``setup.py`` and build
hooks), ``startup`` for the import lines of ``.pth`` files, ``runtime`` otherwise.
"""

from __future__ import annotations

import ast
import functools
import math
import re
from collections import Counter
from collections.abc import Iterable

from warehouse.scanning.findings import Finding
from warehouse.scanning.rules import RuleSet, yara_literal

_DECODERS = {
    "base64.b64decode": "decode", "base64.b32decode": "decode", "base64.b16decode": "decode",
    "base64.b85decode": "decode", "base64.a85decode": "decode", "base64.urlsafe_b64decode": "decode",
    "base64.standard_b64decode": "decode", "base64.decodebytes": "decode", "base64.decodestring": "decode",
    "binascii.a2b_base64": "decode", "binascii.unhexlify": "decode", "binascii.a2b_hex": "decode",
    "codecs.decode": "decode", "bytes.fromhex": "decode", "bytearray.fromhex": "decode",
    "zlib.decompress": "decompress", "lzma.decompress": "decompress", "bz2.decompress": "decompress",
    "gzip.decompress": "decompress", "marshal.loads": "marshal",
}  # fmt: skip

_EXEC_BUILTINS = {"exec", "eval", "compile", "execfile"}
_SUBPROCESS = re.compile(
    r"^(?:subprocess\.(?:Popen|call|check_call|check_output|run|getoutput|getstatusoutput)"
    r"|os\.(?:system|popen|popen[234]|spawn\w*|exec\w*|startfile|posix_spawnp?)"
    r"|pty\.spawn|commands\.getoutput|asyncio\.create_subprocess_(?:shell|exec))$"
)
_NETWORK = re.compile(
    r"^(?:urllib\.request\.(?:urlopen|urlretrieve|Request|build_opener)|urllib2?\.(?:urlopen|urlretrieve)"
    r"|urllib2\.Request|requests\.(?:get|post|put|patch|delete|head|request|Session|session)"
    r"|httpx\.(?:get|post|put|request|Client|AsyncClient|stream)|http\.client\.HTTPS?Connection"
    r"|httplib\.HTTPS?Connection|socket\.(?:socket|create_connection)|aiohttp\.ClientSession"
    r"|urllib3\.(?:PoolManager|request)|ftplib\.FTP\w*|smtplib\.SMTP\w*|telnetlib\.Telnet"
    r"|websocket\.\w+|dns\.resolver\.\w+|socket\.(?:gethostbyname|getaddrinfo))$"
)
_SYSINFO = {"getpass.getuser", "socket.gethostname", "os.getlogin", "platform.node", "os.uname",
            "platform.uname"}  # fmt: skip
_DOWNLOAD_TO_FILE = {"urllib.request.urlretrieve", "urllib.urlretrieve", "wget.download"}
_SEND_METHODS = {"send", "sendall", "sendto", "post", "put", "patch", "request", "urlopen", "write"}
_PICKLE = re.compile(r"^(?:c?[Pp]ickle|dill|cloudpickle|joblib|shelve)\.(?:loads?|Unpickler|open)$")
_CTYPES = re.compile(
    r"^ctypes\.(?:CDLL|WinDLL|OleDLL|PyDLL|cdll|windll|oledll|pydll|memmove|CFUNCTYPE|WINFUNCTYPE)"
)
_SENSITIVE_PATH = re.compile(
    r"\.ssh/id_|\.ssh[/\\]|id_rsa|id_ed25519|\.aws[/\\]credentials|\.pypirc|\.git-credentials"
    r"|\.docker[/\\]config\.json|\.kube[/\\]config|Login Data|Local State|/etc/shadow"
    r"|discord[/\\]Local Storage|leveldb|[Ww]allet|Exodus|\.bash_history|\.gnupg",
)
_SHELL_DOWNLOAD = re.compile(
    r"\b(?:curl|wget|Invoke-WebRequest|iwr|Invoke-Expression|iex|bitsadmin|certutil\s.*urlcache"
    r"|mshta|nc\s+-e|ncat\s|bash\s+-i)\b|/dev/tcp/|powershell(?:\.exe)?\s.*-(?:e|enc|EncodedCommand)\b"
    r"|\|\s*(?:ba)?sh\b",
    re.IGNORECASE,
)
# Commands a build legitimately runs from setup.py.
_BUILD_TOOLS = {
    "git", "hg", "svn", "cmake", "make", "ninja", "meson", "pkg-config", "gcc", "g++", "cc", "c++",
    "clang", "nvcc", "cargo", "rustc", "npm", "yarn", "swig", "cython", "gfortran", "xcrun",
    "llvm-config", "uname", "which", "python", "python3", "sys.executable", "autoreconf",
    "./configure", "configure", "sh", "bash", "patch", "ar", "ld", "strip", "install_name_tool",
    "mpicc", "pg_config", "mysql_config", "node", "go", "protoc", "lsb_release", "ldconfig",
}  # fmt: skip
_SCRIPTS = (".sh", ".bash", ".bat", ".cmd", ".ps1", ".vbs", ".js", ".exe", ".bin", ".run")
_EXEC_TAINT = {"decode", "decompress", "marshal", "chr", "reversed"}
_INSTALL_CAPS = {"py-network", "py-subprocess", "py-exec-dynamic", "py-ctypes", "py-write-executable",
                 "py-sensitive-read"}  # fmt: skip

# Triage for runtime code: parse a module only when its text holds a combination of words that
# could make a threat (its capabilities alone would not change a verdict). Install-time and
# startup code is always parsed. Plain substring tests: far faster than one regex alternation.
_EXECUTES = (b"exec(", b"eval(", b"compile(", b"__builtins__", b"builtins.", b"__import__(",
             b"execfile")  # fmt: skip
_EXEC_CALL = re.compile(rb"(?<![.\w])(?:exec|eval|compile|execfile)\s*\(|builtins|__import__\(")
_DECODES = (b"b64decode", b"b32decode", b"b85decode", b"a85decode", b"b16decode", b"decodebytes",
            b"decompress", b"fromhex", b"unhexlify", b"codecs.decode", b"chr(", b"::-1]", b"rot13",
            b"rot_13", b"a2b_")  # fmt: skip
# Calls, not mentions: "socket.timeout" in an except clause or "requests" in a docstring are
# everywhere and mean nothing.
_NETWORKS = (b"urlopen", b"urlretrieve", b"import requests", b"from requests", b"requests.get",
             b"requests.post", b"httpx", b"HTTPConnection", b"HTTPSConnection", b"socket.socket",
             b"create_connection", b"gethostbyname", b"getaddrinfo", b"aiohttp.ClientSession",
             b"PoolManager", b"ftplib", b"smtplib", b"websocket", b".sendall(", b".post(")  # fmt: skip
_RUNS = (b"subprocess", b"os.system", b"os.popen", b"os.spawn", b"pty.spawn", b"startfile",
         b"chmod", b"ctypes", b"os.exec")  # fmt: skip
_SECRETS = (b"environ", b".ssh", b"id_rsa", b".aws", b"Login Data", b"allet", b".pypirc",
            b"git-credentials", b"leveldb", b"Local Storage", b"Cookies", b"getuser", b"gethostname",
            b"getlogin", b"getenv")  # fmt: skip
_SHELLS = (b"curl", b"wget", b"powershell", b"/dev/tcp", b"certutil", b"bitsadmin", b"mshta",
           b"Invoke-", b'.sh"', b".sh'", b".ps1", b".bat", b".vbs", b".exe")  # fmt: skip


_WORD_LISTS = {"marshal": (b"marshal",), "executes": _EXECUTES, "decodes": _DECODES,
               "networks": _NETWORKS, "runs": _RUNS, "secrets": _SECRETS, "shells": _SHELLS}  # fmt: skip


def _has(source: bytes, words: tuple[bytes, ...]) -> bool:
    return any(word in source for word in words)


@functools.cache
def _word_scanner():
    """The triage word lists as YARA rules, one rule per list, and yara's error type: YARA
    finds every word of every list in one pass (Aho-Corasick), where ``word in source`` is one
    pass per word (~35 of them for a module that holds none, most modules)."""
    try:
        import yara
    except ImportError:  # pragma: no cover - yara-python is a dependency
        return None, ()
    source = "\n".join(
        f"rule {name} {{ strings: "
        + " ".join(f"$w{i} = {yara_literal(word)}" for i, word in enumerate(words))
        + " condition: any of them }"
        for name, words in _WORD_LISTS.items()
    )
    return yara.compile(source=source), yara.Error


def words_present(source: bytes) -> set[str]:
    """The names of the word lists (``_WORD_LISTS``) with at least one word in ``source``."""
    scanner, yara_error = _word_scanner()
    if scanner is not None:
        try:
            return {match.rule for match in scanner.match(data=source, timeout=10)}
        except yara_error:
            pass  # too many matches of one word, or the timeout: one pass per word instead
    return {name for name, words in _WORD_LISTS.items() if _has(source, words)}


def worth_parsing(source: bytes) -> bool:
    """True when the module could hold a threat: exec next to decoding or the network, secrets
    next to the network, a command next to a download, or hidden bytecode."""
    present = words_present(source)
    if "marshal" in present:
        return True
    networks, runs = "networks" in present, "runs" in present
    if (runs and "shells" in present) or (networks and "secrets" in present):
        return True
    if not (networks or "decodes" in present):
        return False
    # Exec or a command next to decoding or the network. The exec regex is the slow test (it
    # tries every position): only when the words alone cannot answer.
    return runs or ("executes" in present and _EXEC_CALL.search(source) is not None)


def shannon_entropy(data: str) -> float:
    if not data:
        return 0.0
    total = len(data)
    return -sum((n / total) * math.log2(n / total) for n in Counter(data).values())


class _Module:
    """One parse of one module: aliases, variable tags, then the sinks."""

    def __init__(self, tree: ast.Module, rules: RuleSet, member: str, context: str) -> None:
        self.tree = tree
        # One walk of the tree, shared by every pass below (walking is most of the cost), noting
        # each variable's function so that tags of a name in one function do not leak to the
        # same name in another.
        self.buckets, self.scopes = _walk_scoped(tree)
        self.memo: dict[int, set[str]] | None = None
        self.rules = rules
        self.member = member
        self.context = context
        self.aliases: dict[str, str] = {}
        self.var_tags: dict[tuple[str, str], set[str]] = {}
        self.functions: dict[str, tuple[str, list[str]]] = {}
        self.findings: list[Finding] = []
        self.reported: set[tuple[str, int]] = set()
        # Function scope -> line, for downloads written to a file and for commands run: a
        # download and a run in the same function make a dropper.
        self.downloads_to_file: dict[str, int] = {}
        self.runs_something: dict[str, int] = {}

    # -- names -------------------------------------------------------------------------------
    def qualname(self, node: ast.AST) -> str:
        if isinstance(node, ast.Name):
            return self.aliases.get(node.id, node.id)
        if isinstance(node, ast.Attribute):
            base = self.qualname(node.value)
            return f"{base}.{node.attr}" if base else node.attr
        if isinstance(node, ast.Call):
            func = self.qualname(node.func)
            if func in ("__import__", "importlib.import_module") and node.args:
                arg = node.args[0]
                if isinstance(arg, ast.Constant) and isinstance(arg.value, str):
                    return arg.value
            if func == "getattr" and len(node.args) >= 2:
                attr = node.args[1]
                if isinstance(attr, ast.Constant) and isinstance(attr.value, str):
                    return f"{self.qualname(node.args[0])}.{attr.value}"
        return ""

    def nodes(self, *types: type) -> Iterable[ast.AST]:
        for kind in types:
            yield from self.buckets.get(kind, ())

    def collect_names(self) -> None:
        for node in self.nodes(ast.Import, ast.ImportFrom, ast.FunctionDef, ast.AsyncFunctionDef):
            if isinstance(node, ast.Import):
                for alias in node.names:
                    if alias.asname:
                        self.aliases[alias.asname] = alias.name
                    else:
                        top = alias.name.split(".")[0]
                        self.aliases.setdefault(top, top)
            elif isinstance(node, ast.ImportFrom) and node.module:
                for alias in node.names:
                    self.aliases[alias.asname or alias.name] = f"{node.module}.{alias.name}"
            elif isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                scope = f"{self.scopes.get(id(node), '')}/{node.name}@{node.lineno}"
                self.functions[node.name] = (scope, [a.arg for a in node.args.args])
        for builtin in ("builtins", "__builtins__", "__builtin__"):
            self.aliases.pop(builtin, None)

    # -- tags --------------------------------------------------------------------------------
    def tags(self, node: ast.AST | None, depth: int = 0) -> set[str]:
        if node is None or depth > 40:
            return set()
        memo = self.memo
        if memo is not None:
            tags = memo.get(id(node))
            if tags is None:
                tags = memo[id(node)] = self._tags(node, depth)
            return tags
        return self._tags(node, depth)

    def _tags(self, node: ast.AST, depth: int) -> set[str]:
        # Dispatch on the exact node type, most frequent first: this runs for every expression
        # of every parsed module, and a chain of isinstance() tests was most of its cost.
        d = depth + 1
        kind = type(node)
        if kind is ast.Name:
            local = self.var_tags.get((self.scopes.get(id(node), ""), node.id), ())
            return set(local) | self.var_tags.get(("", node.id), set())
        if kind is ast.Constant:
            value = node.value
            if isinstance(value, str | bytes):
                tags = set()
                if len(value) >= 200:
                    tags.add("literal")
                text = value if isinstance(value, str) else value.decode("latin-1")
                if len(text) < 512 and _SENSITIVE_PATH.search(text):
                    tags.add("sensitive-path")
                return tags
            return set()
        if kind is ast.Attribute:
            name = self.qualname(node)
            if name == "os.environ":
                return {"env-all"}
            return self.tags(node.value, d)
        if kind is ast.Call:
            return self.call_tags(node, d)
        if kind is ast.Subscript:
            sl = node.slice
            if (
                type(sl) is ast.Slice
                and type(sl.step) is ast.UnaryOp
                and type(node.value) is ast.Constant
                and isinstance(node.value.value, str | bytes)
                and len(node.value.value) > 20
            ):
                return self.tags(node.value, d) | {"reversed"}
            base = self.tags(node.value, d)
            base.discard("env-all")
            return base
        if kind is ast.BinOp:
            return self.tags(node.left, d) | self.tags(node.right, d)
        if kind is ast.JoinedStr:
            return set().union(*(self.tags(v, d) for v in node.values))
        if kind is ast.FormattedValue:
            return self.tags(node.value, d)
        if kind is ast.List or kind is ast.Tuple or kind is ast.Set:
            return set().union(*(self.tags(e, d) for e in node.elts))
        if kind is ast.Dict:
            return set().union(
                *(self.tags(v, d) for v in node.values if v is not None)
            ) | set().union(*(self.tags(k, d) for k in node.keys if k is not None))
        if kind is ast.ListComp or kind is ast.GeneratorExp or kind is ast.SetComp:
            return self.tags(node.elt, d) | set().union(
                *(self.tags(g.iter, d) for g in node.generators)
            )
        if kind is ast.IfExp:
            return self.tags(node.body, d) | self.tags(node.orelse, d)
        if kind is ast.Await:
            return self.tags(node.value, d)
        return set()

    def call_tags(self, node: ast.Call, d: int) -> set[str]:
        func = self.qualname(node.func)
        args = set().union(*(self.tags(a, d) for a in node.args)) if node.args else set()
        kwargs = (
            set().union(*(self.tags(k.value, d) for k in node.keywords)) if node.keywords else set()
        )
        short = func.rsplit(".", 1)[-1]
        decoder = _DECODERS.get(func) or (
            "decode" if short in ("fromhex", "unhexlify", "b64decode") else None
        )
        if decoder:
            return args | {decoder}
        if func == "chr" or (
            func == "map"
            and node.args
            and isinstance(node.args[0], ast.Name)
            and node.args[0].id == "chr"
        ):
            return {"char"}
        if short == "join" and "char" in args:
            return {"chr"} | (args - {"char"})
        if func in ("dict", "os.environ.copy", "os.environ.items", "os.environ.values") and (
            func.startswith("os.environ") or "env-all" in args
        ):
            return {"env-all"}
        if func == "open" or short in ("read_text", "read_bytes") or func.endswith("Path"):
            receiver = (
                self.tags(node.func.value, d) if isinstance(node.func, ast.Attribute) else set()
            )
            if "sensitive-path" in args | receiver:
                return {"sensitive", "file"}
            return {"file"}
        if _NETWORK.match(func) or func in _DOWNLOAD_TO_FILE:
            return {"network"}
        if func in _SYSINFO:
            return {"sysinfo"}
        if isinstance(node.func, ast.Attribute):
            receiver = self.tags(node.func.value, d)
            if node.func.attr in ("get", "getenv") and "env-all" in receiver:
                return set()
            return receiver | args | kwargs
        return args | kwargs

    def propagate(self) -> None:
        assigns = []
        calls = []
        for node in self.nodes(
            ast.Assign,
            ast.AnnAssign,
            ast.AugAssign,
            ast.For,
            ast.AsyncFor,
            ast.comprehension,
            ast.withitem,
            ast.NamedExpr,
            ast.Call,
        ):
            if isinstance(node, ast.Assign | ast.AnnAssign | ast.AugAssign):
                targets = node.targets if isinstance(node, ast.Assign) else [node.target]
                assigns.append((targets, node.value))
            elif isinstance(node, ast.For | ast.AsyncFor | ast.comprehension):
                assigns.append(([node.target], node.iter))
            elif isinstance(node, ast.withitem) and node.optional_vars is not None:
                assigns.append(([node.optional_vars], node.context_expr))
            elif isinstance(node, ast.NamedExpr):
                assigns.append(([node.target], node.value))
            elif isinstance(node, ast.Call) and isinstance(node.func, ast.Name):
                if node.func.id in self.functions:
                    calls.append(node)
        for _ in range(3):  # a few rounds carry tags down chains of assignments
            self.memo = {}
            changed = False
            for targets, value in assigns:
                tags = self.tags(value)
                if not tags:
                    continue
                for target in targets:
                    scope = self.scopes.get(id(target), "")
                    for name in _target_names(target):
                        known = self.var_tags.setdefault((scope, name), set())
                        if not tags <= known:
                            known |= tags
                            changed = True
            for call in calls:
                scope, params = self.functions[call.func.id]
                for param, arg in zip(params, call.args, strict=False):
                    tags = self.tags(arg)
                    known = self.var_tags.setdefault((scope, param), set())
                    if tags and not tags <= known:
                        known |= tags
                        changed = True
            if not changed:
                break
        self.memo = None

    # -- sinks -------------------------------------------------------------------------------
    def report(self, rule: str, node: ast.AST, detail: str | None = None) -> None:
        line = getattr(node, "lineno", None)
        key = (rule, line or 0)
        if key in self.reported:
            return
        self.reported.add(key)
        self.findings.append(self.rules.finding(rule, self.member, line, detail))

    def check_calls(self) -> None:
        for node in self.nodes(ast.Call):
            self.check_call(node)
        blobs = 0
        min_length = self.rules.entropy_min_length
        for node in self.nodes(ast.Constant):
            value = node.value
            if not isinstance(value, str | bytes):
                continue
            if len(value) < 512:
                if isinstance(value, str) and _SENSITIVE_PATH.search(value):
                    self.report("py-sensitive-read", node, repr(value[:80]))
            elif len(value) >= min_length and blobs < 5:
                text = value if isinstance(value, str) else value.decode("latin-1")
                entropy = shannon_entropy(text[:65536])
                if entropy >= self.rules.entropy_threshold:
                    blobs += 1
                    detail = f"{len(text)} characters, entropy {entropy:.2f}"
                    self.report("entropy-blob", node, detail)
        for scope in self.downloads_to_file.keys() & self.runs_something.keys():
            line = max(self.downloads_to_file[scope], self.runs_something[scope])
            self.findings.append(
                self.rules.finding("py-download-execute", self.member, line, "download then run")
            )
            break

    def check_call(self, node: ast.Call) -> None:
        func = self.qualname(node.func)
        if not func:
            return
        short = func.rsplit(".", 1)[-1]
        sink = _sink_of(func)
        if sink is None and not (type(node.func) is ast.Attribute and short in _SEND_METHODS):
            return  # not a sink: its arguments' tags are not needed
        all_args = list(node.args) + [k.value for k in node.keywords]
        args = set().union(*(self.tags(a) for a in all_args)) if all_args else set()

        if sink == "exec":
            if not node.args:
                return
            if "network" in args:
                self.report("py-exec-downloaded", node, f"{short}() of fetched data")
            elif args & _EXEC_TAINT:
                self.report(
                    "py-exec-decoded",
                    node,
                    f"{short}() of {'/'.join(sorted(args & _EXEC_TAINT))} data",
                )
            elif isinstance(node.args[0], ast.Constant) or args <= {"file"} and "file" in args:
                return  # a literal, or a project file read relative to setup.py (version)
            else:
                self.report("py-exec-dynamic", node, f"{short}()")
            return

        decoder = _DECODERS.get(func)
        if decoder:
            if decoder == "marshal" and (args & {"literal", "decode", "decompress"}):
                self.report("py-marshal-load", node)
            elif (args & {"decode", "decompress"}) and "literal" in args:
                self.report("py-decode-chain", node, func)
            return

        if func == "chr":
            return

        if sink == "subprocess":
            self.runs_something.setdefault(self.scopes.get(id(node), ""), node.lineno)
            command = _literal_text(node.args[0]) if node.args else ""
            for word in command.split():
                if word.lower().endswith(_SCRIPTS):
                    # Judged with the script's own findings once the archive is read.
                    self.report("py-runs-script", node, word)
            if command and _SHELL_DOWNLOAD.search(command):
                self.report("py-shell-download", node, command[:120])
                return
            # What runs is the command (first argument), not its environment or options.
            command_tags = self.tags(node.args[0]) if node.args else args
            if "network" in command_tags:
                self.report("py-download-execute", node, f"{func} of fetched data")
            elif command_tags & _EXEC_TAINT:
                self.report("py-exec-decoded", node, f"{func} of decoded data")
            elif self.context == "install" and _is_build_tool(
                node.args[0] if node.args else None, self
            ):
                return
            else:
                self.report("py-subprocess", node, func)
            return

        if func == "os.chmod":
            self.runs_something.setdefault(self.scopes.get(id(node), ""), node.lineno)
            self.report("py-write-executable", node, func)
            return

        if sink == "network":
            if func in _DOWNLOAD_TO_FILE:
                self.downloads_to_file.setdefault(self.scopes.get(id(node), ""), node.lineno)
            if args & {"env-all", "sensitive"}:
                self.report("py-exfiltration", node, func)
            elif any(
                isinstance(arg, ast.BinOp | ast.JoinedStr) and "sysinfo" in self.tags(arg)
                for arg in all_args
            ):
                # User and host names spelled into an address: a DNS or URL beacon.
                self.report("py-exfiltration", node, f"{func} of user/host names")
            else:
                self.report("py-network", node, func)
            return

        if isinstance(node.func, ast.Attribute) and short in _SEND_METHODS:
            if short == "write":
                if "network" in args:
                    self.downloads_to_file.setdefault(self.scopes.get(id(node), ""), node.lineno)
                return
            receiver = self.tags(node.func.value)
            if args & {"env-all", "sensitive"} and (
                "network" in receiver or short in ("send", "sendall", "sendto", "post")
            ):
                self.report("py-exfiltration", node, f".{short}() of environment or key data")
            return

        if sink == "pickle":
            self.report("py-pickle", node, func)
            return

        if sink == "ctypes":
            if args & _EXEC_TAINT:
                self.report("py-exec-decoded", node, f"{func} of decoded data")
            else:
                self.report("py-ctypes", node, func)

    def run(self) -> list[Finding]:
        self.collect_names()
        self.propagate()
        self.memo = {}  # tags are final from here on
        self.check_calls()
        if self.context in ("install", "startup"):
            self.mark_context()
        return self.findings

    def mark_context(self) -> None:
        rule = "py-install-hook" if self.context == "install" else "py-startup-code"
        extra = []
        for finding in self.findings:
            if finding.rule in _INSTALL_CAPS or finding.severity == "critical":
                extra.append(
                    self.rules.finding(
                        rule, self.member, finding.location.line, f"{finding.message}"
                    )
                )
        self.findings.extend(extra)


_SINKS: dict[str, str | None] = {}


def _sink_of(func: str) -> str | None:
    """What kind of sink a qualified call name is (None for most calls), remembered per name:
    the same few thousand names recur in every module."""
    try:
        return _SINKS[func]
    except KeyError:
        pass
    short = func.rsplit(".", 1)[-1]
    if func in _EXEC_BUILTINS or (
        func.startswith(("builtins.", "__builtins__.", "__builtin__.")) and short in _EXEC_BUILTINS
    ):
        sink = "exec"
    elif func in _DECODERS:
        sink = "decoder"
    elif func == "chr":
        sink = "chr"
    elif _SUBPROCESS.match(func):
        sink = "subprocess"
    elif func == "os.chmod":
        sink = "chmod"
    elif _NETWORK.match(func) or func in _DOWNLOAD_TO_FILE:
        sink = "network"
    elif _PICKLE.match(func):
        sink = "pickle"
    elif _CTYPES.match(func):
        sink = "ctypes"
    else:
        sink = None
    if len(_SINKS) < 100_000:  # names come from scanned code: bound the memory they take
        _SINKS[func] = sink
    return sink


def _leaf_types() -> frozenset[type]:
    """Field values that are never walked into: primitives and the context/operator nodes."""
    leaves: set[type] = {str, int, float, complex, bytes, bool, type(None), type(...)}
    abstract = (ast.expr_context, ast.operator, ast.cmpop, ast.unaryop, ast.boolop)
    for name in dir(ast):
        obj = getattr(ast, name)
        if isinstance(obj, type) and issubclass(obj, abstract):
            leaves.add(obj)
    return frozenset(leaves)


_LEAVES = _leaf_types()
# Fields that hold names, numbers or flags, never nodes: not looked at by the walk.
_PRIMITIVE_FIELDS = {
    "Name": {"id", "ctx"}, "Constant": {"value", "kind"}, "Attribute": {"attr", "ctx"},
    "Starred": {"ctx"}, "Subscript": {"ctx"}, "List": {"ctx"}, "Tuple": {"ctx"},
    "FunctionDef": {"name", "type_comment"}, "AsyncFunctionDef": {"name", "type_comment"},
    "ClassDef": {"name"}, "ImportFrom": {"module", "level"}, "alias": {"name", "asname"},
    "arg": {"arg", "type_comment"}, "keyword": {"arg"}, "Global": {"names"},
    "Nonlocal": {"names"}, "ExceptHandler": {"name"}, "FormattedValue": {"conversion"},
    "comprehension": {"is_async"}, "AnnAssign": {"simple"}, "Assign": {"type_comment"},
    "For": {"type_comment"}, "AsyncFor": {"type_comment"}, "With": {"type_comment"},
    "AsyncWith": {"type_comment"}, "BinOp": {"op"}, "UnaryOp": {"op"}, "BoolOp": {"op"},
    "AugAssign": {"op"}, "Compare": {"ops"}, "MatchAs": {"name"}, "MatchStar": {"name"},
    "MatchSingleton": {"value"}, "MatchMapping": {"rest"}, "MatchClass": {"kwd_attrs"},
}  # fmt: skip
_CHILD_FIELDS: dict[type, tuple[str, ...]] = {}


def _child_fields(kind: type) -> tuple[str, ...]:
    fields = _CHILD_FIELDS.get(kind)
    if fields is None:
        skip = _PRIMITIVE_FIELDS.get(kind.__name__, ())
        fields = _CHILD_FIELDS[kind] = tuple(f for f in kind._fields if f not in skip)
    return fields


# Only these nodes are ever looked up by scope (variables, assignment targets, calls).
_SCOPED = frozenset(
    {ast.Name, ast.Call, ast.Tuple, ast.List, ast.Subscript, ast.Attribute, ast.Starred}
)


def _walk_scoped(tree: ast.AST) -> tuple[dict[type, list[ast.AST]], dict[int, str]]:
    """Every node of the tree bucketed by type (so each pass visits only the nodes it reads),
    and the function scope of the nodes that are looked up by scope."""
    buckets: dict[type, list[ast.AST]] = {}
    scopes: dict[int, str] = {}
    stack: list[tuple[ast.AST, str]] = [(tree, "")]
    pop, push = stack.pop, stack.append
    function_types = (ast.FunctionDef, ast.AsyncFunctionDef)
    leaves, scoped, child_fields = _LEAVES, _SCOPED, _CHILD_FIELDS
    while stack:
        node, scope = pop()
        kind = type(node)
        bucket = buckets.get(kind)
        if bucket is None:
            bucket = buckets[kind] = []
        bucket.append(node)
        if scope and kind in scoped:
            scopes[id(node)] = scope
        inner = scope
        decorators: list[ast.AST] = []
        if kind in function_types:
            inner = f"{scope}/{node.name}@{node.lineno}"
            decorators = node.decorator_list
        fields = child_fields.get(kind)
        if fields is None:
            fields = _child_fields(kind)
        for field in fields:
            value = getattr(node, field, None)
            value_type = type(value)
            if value_type is list:
                for item in value:
                    if type(item) not in leaves:
                        # Decorators belong to the enclosing scope; the rest to the function.
                        push((item, scope if decorators and item in decorators else inner))
            elif value_type not in leaves:
                push((value, inner))
    return buckets, scopes


def _target_names(target: ast.AST) -> Iterable[str]:
    if isinstance(target, ast.Name):
        yield target.id
    elif isinstance(target, ast.Tuple | ast.List):
        for element in target.elts:
            yield from _target_names(element)
    elif isinstance(target, ast.Subscript | ast.Attribute):
        base = target.value
        while isinstance(base, ast.Subscript | ast.Attribute):
            base = base.value
        if isinstance(base, ast.Name):
            yield base.id
    elif isinstance(target, ast.Starred):
        yield from _target_names(target.value)


def _literal_text(node: ast.AST) -> str:
    """The command's literal text: a string, or the strings of a list joined by spaces."""
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return node.value
    if isinstance(node, ast.List | ast.Tuple):
        return " ".join(_literal_text(e) for e in node.elts)
    if isinstance(node, ast.JoinedStr):
        return "".join(_literal_text(v) for v in node.values)
    if isinstance(node, ast.BinOp):
        return _literal_text(node.left) + _literal_text(node.right)
    return ""


def _is_build_tool(node: ast.AST | None, module: _Module) -> bool:
    if isinstance(node, ast.Name):
        return _head_of_name(node, module)
    if isinstance(node, ast.List | ast.Tuple) and node.elts:
        head = node.elts[0]
        if isinstance(head, ast.Constant) and isinstance(head.value, str):
            return head.value.rsplit("/", 1)[-1] in _BUILD_TOOLS
        return module.qualname(head) == "sys.executable"
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return node.value.split(" ", 1)[0].rsplit("/", 1)[-1] in _BUILD_TOOLS
    return False


def _head_of_name(node: ast.Name, module: _Module) -> bool:
    """True when the variable holds a command list starting with a build tool (cmd = [...])."""
    for candidate in module.nodes(ast.Assign):
        if (
            not isinstance(candidate.value, ast.Name)
            and any(isinstance(t, ast.Name) and t.id == node.id for t in candidate.targets)
            and _is_build_tool(candidate.value, module)
        ):
            return True
    return False


def analyze_python(
    source: bytes, member: str, context: str, rules: RuleSet, triage: bool = True
) -> list[Finding]:
    """Findings for one module. With ``triage`` (the scanner's default), runtime modules whose
    words cannot make a threat are not parsed, so their mere capabilities go unreported."""
    if triage and context == "runtime" and not worth_parsing(source):
        return []
    try:
        tree = ast.parse(source, filename=member)
    except (SyntaxError, ValueError, RecursionError, MemoryError) as exc:
        return [
            rules.finding(
                "py-syntax-error", member, getattr(exc, "lineno", None), type(exc).__name__
            )
        ]
    try:
        return _Module(tree, rules, member, context).run()
    except RecursionError:
        return [rules.finding("py-syntax-error", member, None, "too deeply nested to analyze")]


def long_literals(source: bytes, min_length: int) -> Iterable[tuple[int, str]]:
    """Line and text of long base64-like runs (for the entropy check). Only lines at least
    ``min_length`` long can hold one, and few lines are: look at those alone."""
    pattern = _long_run(min_length)
    for number, line in enumerate(source.split(b"\n"), 1):
        if len(line) >= min_length:
            for match in pattern.finditer(line):
                yield number, match.group().decode("ascii")


_LONG_RUNS: dict[int, re.Pattern[bytes]] = {}


def _long_run(min_length: int) -> re.Pattern[bytes]:
    if min_length not in _LONG_RUNS:
        _LONG_RUNS[min_length] = re.compile(rb"[A-Za-z0-9+/=_\-]{%d,}" % min_length)
    return _LONG_RUNS[min_length]
