"""Package scanning: read distribution files in memory within limits, never run them, and turn
what the analyzers find into a score and a verdict (clean, suspicious, malicious).

No database here: :func:`warehouse.scanning.scanner.scan_file` takes a path and returns a
:class:`warehouse.scanning.findings.ScanResult`.
"""
