select
    referral_id,
    lead_id,
    link_type,
    linked_at
from {{ source('hunter', 'partner_center_lead_links') }}
