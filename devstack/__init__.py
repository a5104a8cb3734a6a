"""The development and test stack: the production shape as project-local processes.

Not part of the ``warehouse`` package that is installed and deployed; ``make serve``, the test
suite and the benchmarks use it from the checkout (see :mod:`devstack.services`).
"""
