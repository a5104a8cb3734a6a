"""warehouse: a Warehouse-style Python package index."""
