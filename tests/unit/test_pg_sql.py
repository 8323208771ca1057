"""The shared SQL's few translations for PostgreSQL (storeroom/store/postgres.py), which need no server."""

from __future__ import annotations

from storeroom.store.postgres import _escape, _unescape, conninfo, pg_sql, redacted


def test_placeholders_become_psycopg_s_and_percent_signs_are_literal() -> None:
    assert pg_sql("SELECT ? WHERE a = ? AND b LIKE 'x%'") == "SELECT %s WHERE a = %s AND b LIKE 'x%%'"
    assert pg_sql("SELECT '?', \"q?\" FROM t WHERE c = ?") == "SELECT '?', \"q?\" FROM t WHERE c = %s"


def test_nul_escape_is_one_to_one_and_only_touches_what_it_must() -> None:
    params = ("plain", 3, b"\x00bytes", None)
    assert _escape(params) is params  # nothing to do: the same object, no copy
    for text in ("a\x00b", "\x01", "\x01\x02\x00", "\x00\x00"):
        escaped = _escape((text,))[0]
        assert "\x00" not in escaped and _unescape((escaped,)) == (text,)


def test_connection_defaults_never_override_the_url_and_passwords_stay_out_of_logs() -> None:
    info = conninfo("postgresql://u:secret@db:5433/meta?connect_timeout=9")
    assert "connect_timeout=9" in info and "statement_timeout" in info and "application_name=storeroom" in info
    assert redacted("postgresql://u:secret@db:5433/meta") == "postgresql://u@db:5433/meta"
