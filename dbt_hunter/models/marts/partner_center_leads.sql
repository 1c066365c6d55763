-- Leads that came from Partner Center: created by the sync (source partner_center) or linked to a
-- referral. One row per lead and linking referral; a created lead without a link has one row with
-- no referral.
with leads as (
    select * from {{ ref('stg_leads') }}
),

links as (
    select * from {{ ref('stg_partner_center_lead_links') }}
),

referrals as (
    select * from {{ ref('stg_partner_center_referrals') }}
),

companies as (
    select * from {{ ref('stg_companies') }}
),

latest_scans as (
    select domain, scan_status, requested_at
    from (
        select
            domain,
            scan_status,
            requested_at,
            row_number() over (partition by domain order by requested_at desc, scan_request_id desc) as recency
        from {{ ref('stg_domain_scan_requests') }}
    ) as ranked
    where recency = 1
),

partner_center_lead_ids as (
    select lead_id from leads where lead_source = 'partner_center'
    union
    select lead_id from links
),

leads_with_company as (
    select
        leads.*,
        coalesce(by_id.company_id, by_domain.company_id) as matched_company_id,
        coalesce(by_id.domain, by_domain.domain, leads.domain) as company_domain,
        coalesce(by_id.company_name, by_domain.company_name) as company_name,
        coalesce(by_id.country, by_domain.country) as company_country
    from leads
    inner join partner_center_lead_ids on partner_center_lead_ids.lead_id = leads.lead_id
    left join companies as by_id on by_id.company_id = leads.company_id
    left join companies as by_domain
        on leads.company_id is null and by_domain.domain = leads.domain and by_domain.is_domain_primary
)

select
    leads_with_company.lead_id,
    leads_with_company.lead_source,
    leads_with_company.external_id as lead_external_id,
    leads_with_company.created_at as lead_created_at,
    leads_with_company.matched_company_id as company_id,
    leads_with_company.company_domain,
    leads_with_company.company_name,
    leads_with_company.company_country,
    links.link_type,
    links.linked_at,
    referrals.referral_id,
    referrals.referral_name,
    referrals.status as referral_status,
    referrals.substatus as referral_substatus,
    referrals.customer_name,
    referrals.deal_value,
    referrals.currency,
    latest_scans.scan_status as latest_scan_status,
    latest_scans.requested_at as latest_scan_requested_at
from leads_with_company
left join links on links.lead_id = leads_with_company.lead_id
left join referrals on referrals.referral_id = links.referral_id
left join latest_scans on latest_scans.domain = leads_with_company.company_domain
