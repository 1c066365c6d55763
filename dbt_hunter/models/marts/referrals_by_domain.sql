-- Referral activity per customer domain, with the Hunter company of that domain.
with per_domain as (
    select
        domain,
        count(*) as referral_count,
        count(case when status in ('New', 'Active') then 1 end) as open_referral_count,
        count(case when substatus = 'Won' then 1 end) as won_referral_count,
        count(case when substatus = 'Lost' then 1 end) as lost_referral_count,
        min(created_at) as first_referral_at,
        max(created_at) as latest_referral_at,
        max(updated_at) as last_updated_at
    from {{ ref('stg_partner_center_referrals') }}
    where domain is not null
    group by domain
)

select
    per_domain.domain,
    companies.company_id,
    companies.company_name,
    companies.country as company_country,
    per_domain.referral_count,
    per_domain.open_referral_count,
    per_domain.won_referral_count,
    per_domain.lost_referral_count,
    per_domain.first_referral_at,
    per_domain.latest_referral_at,
    per_domain.last_updated_at
from per_domain
left join {{ ref('stg_companies') }} as companies
    on companies.domain = per_domain.domain and companies.is_domain_primary
