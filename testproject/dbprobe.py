"""Prints the DATABASE_URL that `make test` should use: PostgreSQL on 127.0.0.1:5432 when it
answers (so the concurrency and Celery tests run), SQLite in memory otherwise."""

from __future__ import annotations

import os
import socket


def main() -> None:
    if os.environ.get("DATABASE_URL"):
        print(os.environ["DATABASE_URL"])
        return
    try:
        with socket.create_connection(("127.0.0.1", 5432), timeout=1):
            print("postgres://postgres@127.0.0.1:5432/test")
            return
    except OSError:
        print("sqlite:///:memory:")


if __name__ == "__main__":
    main()
