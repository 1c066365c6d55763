{#- SQL that differs between the two databases Hunter runs on: PostgreSQL and DuckDB. -#}

{#- The text value of a top-level key of a JSON object column (JSONB on Postgres, JSON on DuckDB). -#}
{% macro json_text(column, key) -%}
    {{ return(adapter.dispatch('json_text', 'dbt_hunter')(column, key)) }}
{%- endmacro %}

{% macro postgres__json_text(column, key) -%}
    ({{ column }} ->> '{{ key }}')
{%- endmacro %}

{% macro duckdb__json_text(column, key) -%}
    json_extract_string({{ column }}, '$.{{ key }}')
{%- endmacro %}

{#- The UTC calendar day of a timestamp with time zone, whatever the session time zone is. -#}
{% macro utc_date(column) -%}
    {{ return(adapter.dispatch('utc_date', 'dbt_hunter')(column)) }}
{%- endmacro %}

{% macro postgres__utc_date(column) -%}
    cast(({{ column }} at time zone 'UTC') as date)
{%- endmacro %}

{% macro duckdb__utc_date(column) -%}
    cast(timezone('UTC', {{ column }}) as date)
{%- endmacro %}

{#- Seconds since the Unix epoch of a timestamp with time zone, as a double. -#}
{% macro epoch_seconds(expression) -%}
    {{ return(adapter.dispatch('epoch_seconds', 'dbt_hunter')(expression)) }}
{%- endmacro %}

{% macro postgres__epoch_seconds(expression) -%}
    cast(extract(epoch from {{ expression }}) as double precision)
{%- endmacro %}

{% macro duckdb__epoch_seconds(expression) -%}
    cast(epoch({{ expression }}) as double)
{%- endmacro %}
