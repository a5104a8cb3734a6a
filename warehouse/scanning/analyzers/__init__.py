"""Analyzers: each looks at one archive member (or the file name) and returns findings."""
