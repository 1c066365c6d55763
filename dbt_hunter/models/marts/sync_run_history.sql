-- Every sync run with its counters, one column per skip reason and their total.
select
    run_id,
    started_at,
    finished_at,
    {{ epoch_seconds('finished_at') }} - {{ epoch_seconds('started_at') }} as duration_seconds,
    status,
    full_refresh,
    fetched,
    inserted,
    updated,
    unchanged,
    {%- for reason in var('skip_reasons') %}
    skipped_{{ reason }},
    {%- endfor %}
    {% for reason in var('skip_reasons') -%}
    skipped_{{ reason }}{{ ' + ' if not loop.last }}
    {%- endfor %} as skipped_total,
    pages,
    max_pages_reached,
    watermark,
    error
from {{ ref('stg_partner_center_sync_runs') }}
