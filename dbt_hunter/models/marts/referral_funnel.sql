-- Referrals per UTC day of creation, status and substatus, with deal value summed per currency
-- (amounts in different currencies are never added together).
select
    {{ utc_date('created_at') }} as created_date,
    status,
    substatus,
    currency,
    count(*) as referral_count,
    count(deal_value) as referrals_with_deal_value,
    sum(deal_value) as deal_value_total
from {{ ref('stg_partner_center_referrals') }}
group by 1, 2, 3, 4
