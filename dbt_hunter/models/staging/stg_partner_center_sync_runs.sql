-- One column per skip reason, read from the JSON object `skipped` (reason -> count); a reason
-- missing from the object, or a run without counters, reads as 0.
select
    run_id,
    started_at,
    finished_at,
    status,
    full_refresh,
    fetched,
    inserted,
    updated,
    unchanged,
    {%- for reason in var('skip_reasons') %}
    coalesce(cast({{ json_text('skipped', reason) }} as bigint), 0) as skipped_{{ reason }},
    {%- endfor %}
    pages,
    max_pages_reached,
    watermark,
    error
from {{ source('hunter', 'partner_center_sync_runs') }}
