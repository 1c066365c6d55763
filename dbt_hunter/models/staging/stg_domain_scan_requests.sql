select
    id as scan_request_id,
    lower(domain) as domain,
    source as request_source,
    referral_id,
    status as scan_status,
    requested_at
from {{ source('hunter', 'domain_scan_requests') }}
