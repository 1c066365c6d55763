"""Partner Center Referrals Sync: Partner Center referrals into Hunter, as Dagster assets."""

from partner_center_assets.heap import prefer_system_arrow_pool

prefer_system_arrow_pool()
