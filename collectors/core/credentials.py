"""Credentials of REST sources from an Airflow connection (conn type ``http``), read through the HTTP provider's hook
only when a window is collected; an injected client value wins (tests). Errors name the source, the connection and
what each field must hold; values are never logged."""

from __future__ import annotations

from collectors.core.base import Collector, CollectorError


def connection_fields(collector: Collector, login: str | None, password: str) -> tuple[str | None, str]:
    """(login, password) of the source's connection. ``login`` / ``password`` say what each field holds (e.g.
    "API key", "application key"); ``login=None`` when only the password is used (a token)."""
    if not collector.connection_id:
        wanted = f"login = {login}, password = {password}" if login else f"password = {password}"
        raise CollectorError(f"source {collector.source_id}: no credentials: set connection_id (an Airflow "
                             f"connection: {wanted})")
    from airflow.providers.http.hooks.http import HttpHook

    conn = HttpHook.get_connection(collector.connection_id)
    if (login and not conn.login) or not conn.password:
        wanted = f"login ({login}) and password ({password})" if login else f"a password ({password})"
        raise CollectorError(f"source {collector.source_id}: connection {collector.connection_id!r}: expected "
                             f"{wanted}")
    return conn.login, conn.password
