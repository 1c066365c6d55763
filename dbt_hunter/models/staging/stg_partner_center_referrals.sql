-- Referrals without their raw payload; domain lowercased and currency codes uppercased so that
-- joins and per-currency sums do not split on spelling.
select
    id as referral_id,
    engagement_id,
    external_reference_id,
    name as referral_name,
    status,
    substatus,
    type as referral_type,
    qualification,
    direction,
    customer_name,
    customer_country,
    deal_value,
    upper(nullif(trim(currency), '')) as currency,
    lower(domain) as domain,
    domain_source,
    created_at,
    updated_at,
    first_synced_at,
    last_synced_at
from {{ source('hunter', 'partner_center_referrals') }}
