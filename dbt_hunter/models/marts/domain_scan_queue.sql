-- Domain scans still waiting for Hunter's scanner, from every source (request_source), with the
-- referral that asked for each and the company of the domain. age_hours is measured when the model
-- is built (measured_at).
with scans as (
    select * from {{ ref('stg_domain_scan_requests') }}
    where scan_status = 'pending'
),

referrals as (
    select * from {{ ref('stg_partner_center_referrals') }}
),

companies as (
    select * from {{ ref('stg_companies') }}
),

measured as (
    select current_timestamp as measured_at
)

select
    scans.scan_request_id,
    scans.domain,
    scans.request_source,
    scans.requested_at,
    measured.measured_at,
    ({{ epoch_seconds('measured.measured_at') }} - {{ epoch_seconds('scans.requested_at') }}) / 3600.0
        as age_hours,
    scans.referral_id,
    referrals.referral_name,
    referrals.status as referral_status,
    referrals.substatus as referral_substatus,
    referrals.customer_name,
    companies.company_id,
    companies.company_name,
    companies.country as company_country
from scans
cross join measured
left join referrals on referrals.referral_id = scans.referral_id
left join companies on companies.domain = scans.domain and companies.is_domain_primary
