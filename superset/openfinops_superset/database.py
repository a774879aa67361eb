"""The warehouse connection Superset gets: OPENFINOPS_READER_URL, a PostgreSQL role that can SELECT the `marts`
schema and nothing else. ``check_read_only`` connects with it before every import and lists what the role could
do beyond that; deploy refuses to go on when the list is not empty."""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import unquote, urlsplit, urlunsplit

import psycopg

from .client import DeployError

READER_URL_ENV = "OPENFINOPS_READER_URL"
WAREHOUSE_URL_ENV = "OPENFINOPS_WAREHOUSE_URL"
# schemas the reader must not even see (USAGE): raw data, config, alert state, operations, dbt's inner layers
PRIVATE_SCHEMAS = ("raw", "config", "alerts", "ops", "staging", "intermediate")
# schemas the reader must not create objects in
NO_CREATE_SCHEMAS = ("public", "marts")
READABLE_SCHEMA = "marts"


@dataclass(frozen=True)
class DatabaseTarget:
    """Parts of a ``postgresql://user:password@host:port/database`` URL."""

    username: str | None
    password: str | None
    host: str
    port: int | None
    database: str
    query: str


def parse_database_url(url: str, what: str = READER_URL_ENV) -> DatabaseTarget:
    parts = urlsplit(url)
    if not parts.hostname or not parts.path.strip("/"):
        raise DeployError(f"{what} must look like postgresql://user:password@host:port/database")
    return DatabaseTarget(
        username=unquote(parts.username) if parts.username else None,
        password=unquote(parts.password) if parts.password is not None else None,
        host=parts.hostname,
        port=parts.port,
        database=parts.path.strip("/"),
        query=parts.query,
    )


def libpq_url(url: str) -> str:
    """The URL without a SQLAlchemy driver suffix (``postgresql+psycopg2://`` -> ``postgresql://``)."""
    parts = urlsplit(url)
    return urlunsplit(parts._replace(scheme=parts.scheme.split("+", 1)[0]))


_CHECKS_SQL = {
    "owner": """
        SELECT pg_get_userbyid(d.datdba), pg_has_role(current_user, d.datdba, 'MEMBER')
        FROM pg_database d WHERE d.datname = current_database()""",
    "role": "SELECT rolsuper, rolcreaterole, rolbypassrls FROM pg_roles WHERE rolname = current_user",
    "schema_privilege": """
        SELECT n.nspname FROM pg_namespace n
        WHERE n.nspname = ANY(%s) AND has_schema_privilege(current_user, n.oid, %s) ORDER BY 1""",
    "create_in_database": "SELECT has_database_privilege(current_user, current_database(), 'CREATE')",
    # tables/views outside marts the role can read (catalogs excluded)
    "readable_elsewhere": """
        SELECT n.nspname || '.' || c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
        WHERE c.relkind IN ('r', 'v', 'm', 'p', 'f') AND n.nspname <> %s
          AND n.nspname NOT IN ('pg_catalog', 'information_schema') AND n.nspname NOT LIKE 'pg\\_%%'
          AND has_table_privilege(current_user, c.oid, 'SELECT') ORDER BY 1""",
    "writable_marts": """
        SELECT n.nspname || '.' || c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
        WHERE c.relkind IN ('r', 'p', 'v', 'm') AND n.nspname = %s
          AND has_table_privilege(current_user, c.oid, 'INSERT, UPDATE, DELETE, TRUNCATE') ORDER BY 1""",
    "marts_usage": """
        SELECT has_schema_privilege(current_user, n.oid, 'USAGE') FROM pg_namespace n WHERE n.nspname = %s""",
}


def _names(rows: list[tuple], limit: int = 5) -> str:
    names = [r[0] for r in rows]
    return ", ".join(names[:limit]) + (f" and {len(names) - limit} more" if len(names) > limit else "")


def check_read_only(url: str, what: str = READER_URL_ENV) -> tuple[list[str], list[str]]:
    """Connect with ``url`` and return (problems, warnings). Problems: the role owns the database (or is a member
    of its owner), is a superuser, can create roles or bypass row security, can use a private schema
    (raw/config/alerts/ops/staging/intermediate), can create in public/marts or in the database, can read a table
    outside marts or write to a table in marts. Warning: it cannot use schema marts (every chart would fail)."""
    target = parse_database_url(url, what)
    where = f"{target.username}@{target.host}:{target.port or 5432}/{target.database}"
    try:
        conn = psycopg.connect(libpq_url(url), connect_timeout=15, autocommit=True)
    except psycopg.Error as exc:
        raise DeployError(f"cannot connect with {what} ({where}): {str(exc).strip()}") from None
    problems: list[str] = []
    warnings: list[str] = []
    with conn:
        owner, owns = conn.execute(_CHECKS_SQL["owner"]).fetchone()
        if owns:
            problems.append(f"{target.username} owns database {target.database} (owner {owner}, or a member of it)")
        superuser, createrole, bypassrls = conn.execute(_CHECKS_SQL["role"]).fetchone()
        if superuser:
            problems.append(f"{target.username} is a superuser")
        if createrole:
            problems.append(f"{target.username} can create roles (CREATEROLE)")
        if bypassrls:
            problems.append(f"{target.username} bypasses row-level security (BYPASSRLS)")
        rows = conn.execute(_CHECKS_SQL["schema_privilege"], (list(PRIVATE_SCHEMAS), "USAGE")).fetchall()
        if rows:
            problems.append(f"{target.username} can use schema(s) {_names(rows)}")
        rows = conn.execute(_CHECKS_SQL["schema_privilege"], (list(NO_CREATE_SCHEMAS), "CREATE")).fetchall()
        if rows:
            problems.append(f"{target.username} can create in schema(s) {_names(rows)}")
        if conn.execute(_CHECKS_SQL["create_in_database"]).fetchone()[0]:
            problems.append(f"{target.username} can create schemas in database {target.database}")
        rows = conn.execute(_CHECKS_SQL["readable_elsewhere"], (READABLE_SCHEMA,)).fetchall()
        if rows:
            problems.append(f"{target.username} can read tables outside {READABLE_SCHEMA}: {_names(rows)}")
        rows = conn.execute(_CHECKS_SQL["writable_marts"], (READABLE_SCHEMA,)).fetchall()
        if rows:
            problems.append(f"{target.username} can write to {_names(rows)}")
        usage = conn.execute(_CHECKS_SQL["marts_usage"], (READABLE_SCHEMA,)).fetchone()
        if usage is None:
            warnings.append(f"schema {READABLE_SCHEMA} does not exist in {target.database} yet (run dbt build)")
        elif not usage[0]:
            warnings.append(f"{target.username} cannot use schema {READABLE_SCHEMA}: every chart will fail")
    return problems, warnings


def require_read_only(url: str, owner_url: str | None = None, what: str = READER_URL_ENV) -> list[str]:
    """DeployError unless ``url`` is a read-only role (see ``check_read_only``) other than the warehouse owner of
    ``owner_url``. Returns warnings."""
    target = parse_database_url(url, what)
    if owner_url:
        owner = parse_database_url(owner_url, WAREHOUSE_URL_ENV)
        if owner.username and owner.username == target.username:
            raise DeployError(
                f"{what} uses the warehouse owner account {owner.username!r}; Superset must connect with the "
                f"read-only role (OPENFINOPS_READER_URL from `scripts/pg.sh env`)"
            )
    problems, warnings = check_read_only(url, what)
    if problems:
        raise DeployError(
            f"{what} is not a read-only role limited to schema {READABLE_SCHEMA}; refusing to give it to Superset:"
            "\n  - " + "\n  - ".join(problems)
        )
    return warnings
