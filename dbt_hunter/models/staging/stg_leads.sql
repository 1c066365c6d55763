select
    id as lead_id,
    company_id,
    lower(domain) as domain,
    source as lead_source,
    external_id,
    created_at,
    updated_at
from {{ source('hunter', 'leads') }}
