{#- Settings for the transaction that builds a mart or the snapshot (their pre-hook). -#}

{#- PostgreSQL compiles a query to machine code once its estimated cost passes jit_above_cost. The
    marts' estimates run far above their real size, and the compiling took longer than the query:
    partner_center_leads over a sync of 100,000 referrals ran in 1.4 to 1.6 s with it and 0.75 to
    0.94 s without. JIT is turned off for that transaction only; a server without it is left alone. -#}
{% macro without_jit() -%}
    {{ return(adapter.dispatch('without_jit', 'dbt_hunter')()) }}
{%- endmacro %}

{% macro postgres__without_jit() -%}
    select set_config('jit', 'off', true) from pg_settings where name = 'jit'
{%- endmacro %}

{% macro default__without_jit() -%}
{%- endmacro %}
