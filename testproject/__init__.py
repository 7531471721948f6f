"""The Django project used by the tests, the demo and the benchmarks."""

from .celery import app as celery_app

__all__ = ("celery_app",)
