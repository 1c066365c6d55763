-- Hunter companies. Other writers may store one domain in several cases (Contoso.com, contoso.com):
-- is_domain_primary marks the company of each domain that the sync fills and links to, spelled in
-- lowercase if one is, else the oldest; the marts join companies by domain through it.
select
    id as company_id,
    lower(domain) as domain,
    name as company_name,
    country,
    created_at,
    updated_at,
    row_number() over (
        partition by lower(domain)
        order by case when domain = lower(domain) then 0 else 1 end, created_at, id
    ) = 1 as is_domain_primary
from {{ source('hunter', 'companies') }}
