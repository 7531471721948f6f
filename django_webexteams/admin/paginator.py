"""A paginator that does not count a huge unfiltered table (deliveries, outbox)."""

from __future__ import annotations

from typing import Any

from django.core.paginator import EmptyPage, Paginator
from django.db import connections
from django.db.models import QuerySet
from django.utils.functional import cached_property

__all__ = [
    "EstimatedCountPaginator",
]


#: The largest row offset a page may start at (PostgreSQL's OFFSET is a bigint).
_MAX_OFFSET = 2**62


class EstimatedCountPaginator(Paginator):  # type: ignore[type-arg]
    """A paginator that does not ``COUNT(*)`` a huge unfiltered table on PostgreSQL.

    For an unfiltered queryset it takes the planner's estimate (``pg_class.reltuples``) when
    that says the table holds more than ``threshold`` rows; filtered querysets, small tables
    and other databases get an exact count. A page number past the estimate shows an empty
    page rather than a 404.
    """

    threshold = 50_000

    @cached_property
    def count(self) -> int:
        qs = self.object_list
        if isinstance(qs, QuerySet) and not qs.query.where:
            connection = connections[qs.db]
            if connection.vendor == "postgresql":
                with connection.cursor() as cursor:
                    cursor.execute(
                        "SELECT reltuples::bigint FROM pg_class WHERE oid = %s::regclass",
                        [qs.model._meta.db_table],
                    )
                    row = cursor.fetchone()
                estimate = int(row[0]) if row and row[0] is not None else -1
                if estimate > self.threshold:
                    return estimate
        return super().count

    def validate_number(self, number: Any) -> int:
        try:
            return super().validate_number(number)
        except EmptyPage:
            # With an estimated count the last pages may not exist: show them empty. Only
            # pages past the end: a page below 1 (a negative slice) or one whose offset
            # overflows the database's bigint stays an invalid page (the admin then shows
            # its "?e=1" page), never a 500 (issue 16: fuzzing ?p=).
            page = int(number)
            if self.count > self.threshold and 1 <= page <= _MAX_OFFSET // self.per_page:
                return page
            raise
