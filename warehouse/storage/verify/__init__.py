"""Verifying a store against the database: see :mod:`warehouse.storage.verify.runner`."""
