select
    id as company_id,
    lower(domain) as domain,
    name as company_name,
    country,
    created_at,
    updated_at
from {{ source('hunter', 'companies') }}
