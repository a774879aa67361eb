{#
    Read-only access to the marts for the Superset role (on-run-start in dbt_project.yml). The role is
    env var OPENFINOPS_WH_READER_ROLE (default openfinops_reader; scripts/pg.sh creates it on the embedded
    PostgreSQL). When it does not exist (e.g. someone's own warehouse) nothing is granted and a line says so.

    Granted: USAGE on schema marts, SELECT on every table/view already in marts, and default privileges so that
    every table the building role creates in marts later is readable from the moment it exists:
        ALTER DEFAULT PRIVILEGES FOR ROLE <current_user> IN SCHEMA marts GRANT SELECT ON TABLES TO <reader>
    dbt rebuilds a table by creating `<name>__dbt_tmp` and renaming it over the old one in one transaction, so the
    new table carries SELECT when the rename commits: there is no window in which a rebuilt mart is unreadable.
    (Grants in an on-run-end hook would leave the new tables unreadable until the end of the build, and not at
    all after a failed one.) Nothing is granted on raw, staging, intermediate, config, ops or alerts.

    When the building role owns the database it also revokes TEMPORARY on the database and CREATE on schema public
    from PUBLIC (the owner keeps both), so the reader cannot create anything anywhere.
#}
{% macro grant_marts_to_reader() -%}
    {%- set reader = env_var('OPENFINOPS_WH_READER_ROLE', 'openfinops_reader') -%}
    {%- if not modules.re.match('^[a-z_][a-z0-9_]{0,62}$', reader) -%}
        {{ exceptions.raise_compiler_error("OPENFINOPS_WH_READER_ROLE: expected a lower-case role name, got '" ~ reader ~ "'") }}
    {%- endif -%}
    {%- if execute -%}
        {%- set checks = run_query(
            "select exists (select 1 from pg_catalog.pg_roles where rolname = '" ~ reader ~ "'),"
            ~ " (select pg_catalog.pg_get_userbyid(datdba) = current_user from pg_catalog.pg_database"
            ~ " where datname = current_database()),"
            ~ " exists (select 1 from pg_catalog.pg_namespace where nspname = 'marts')"
        ) -%}
        {%- set role_exists = checks.rows[0][0] -%}
        {%- set owns_database = checks.rows[0][1] -%}
        {%- set marts_exists = checks.rows[0][2] -%}
    {%- else -%}
        {%- set role_exists = false -%}
        {%- set owns_database = false -%}
        {%- set marts_exists = true -%}
    {%- endif -%}
    {%- if role_exists -%}
        {{ log("grant_marts_to_reader: SELECT on schema marts (now and by default) to role " ~ reader, info=true) }}
        {#- a first build: the schema must exist before its default privileges can be set #}
        {%- if not marts_exists %}
        create schema marts;
        {%- endif %}
        grant usage on schema marts to {{ adapter.quote(reader) }};
        grant select on all tables in schema marts to {{ adapter.quote(reader) }};
        alter default privileges for role current_user in schema marts grant select on tables to {{ adapter.quote(reader) }};
        {%- if owns_database %}
        revoke temporary on database {{ adapter.quote(target.dbname) }} from public;
        revoke create on schema public from public;
        {%- endif %}
    {%- else -%}
        {%- if execute -%}
            {{ log("grant_marts_to_reader: role " ~ reader ~ " does not exist - no read-only grants on marts", info=true) }}
        {%- endif -%}
        select 1 as reader_role_missing
    {%- endif -%}
{%- endmacro %}
