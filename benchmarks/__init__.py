"""Benchmarks of django-webexteams against the ways people do the same work today.

Run them with ``make bench`` (``python -m benchmarks.run [names...]``); each writes
``benchmarks/results/<name>.json``, and the run rewrites ``benchmarks/results/RESULTS.md``.
docs/benchmarks.md explains every benchmark and records the figures. Nothing here is imported
by the package or asserted by the test suite (tests/reliability/test_bench_smoke.py only checks
that tiny runs produce sane results).
"""
