"""A local emulator of the Partner Center Referrals API and of the Entra ID token endpoints.

Used by the tests, the benchmarks and the ``partner-center emulator`` command, so the whole product
can run (and fail in realistic ways) without Microsoft credentials.
"""

from partner_center_assets.emulator.faults import Fault
from partner_center_assets.emulator.generator import generate_referrals, iter_referrals, load_referrals
from partner_center_assets.emulator.request_log import RequestRecord
from partner_center_assets.emulator.server import Emulator
from partner_center_assets.emulator.store import RawReferral

__all__ = [
    "Emulator",
    "Fault",
    "RawReferral",
    "RequestRecord",
    "generate_referrals",
    "iter_referrals",
    "load_referrals",
]
