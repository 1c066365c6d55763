"""The Referrals API read endpoints: the paged list and get-by-id.

Paging follows the documented envelope (``@odata.context``, ``@odata.count``, ``value``,
``@odata.nextLink``). ``$top`` is a page size capped at ``max_page_size``, as the service pages at
100 whatever is asked. The next link carries only an opaque ``$skiptoken`` and is written in one of
three styles, because the documentation itself shows an ``http://`` link while clients must also
cope with relative ones.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Mapping
from typing import Any

from partner_center_assets.emulator.odata import ODataError
from partner_center_assets.emulator.replies import Reply, api_error
from partner_center_assets.emulator.store import ReferralStore

LIST_PATH = "/v1.0/engagements/referrals"
NEXT_LINK_STYLES = ("absolute", "relative", "http")
_KNOWN_OPTIONS = frozenset({"$filter", "$orderby", "$top", "$skip", "$skiptoken", "$count", "$select"})


def _encode_token(snapshot_id: str, offset: int, size: int, select: str) -> str:
    raw = json.dumps([snapshot_id, offset, size, select], separators=(",", ":")).encode("utf-8")
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")


def _decode_token(token: str) -> tuple[str, int, int, str]:
    try:
        raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
        snapshot_id, offset, size, select = json.loads(raw)
        if not (isinstance(snapshot_id, str) and isinstance(offset, int) and isinstance(size, int)):
            raise ValueError
        return snapshot_id, offset, size, str(select)
    except (ValueError, TypeError, binascii.Error, UnicodeDecodeError) as exc:
        raise ODataError("$skiptoken is not valid") from exc


def _non_negative(params: Mapping[str, str], name: str) -> int | None:
    raw = params.get(name)
    if raw is None:
        return None
    try:
        value = int(raw)
    except ValueError:
        raise ODataError(f"{name} must be a whole number, got {raw!r}") from None
    if value < 0:
        raise ODataError(f"{name} must not be negative")
    return value


def _select(body: bytes, fields: list[str]) -> bytes:
    item = json.loads(body)
    chosen = {name: item[name] for name in fields if name in item}
    return json.dumps(chosen, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


class ReferralsApi:
    def __init__(
        self, store: ReferralStore, *, max_page_size: int = 100, next_link_style: str = "absolute"
    ) -> None:
        if next_link_style not in NEXT_LINK_STYLES:
            raise ValueError(f"next_link_style must be one of {', '.join(NEXT_LINK_STYLES)}")
        if max_page_size < 1:
            raise ValueError("max_page_size must be at least 1")
        self.store = store
        self.max_page_size = max_page_size
        self.next_link_style = next_link_style

    def list_referrals(self, params: Mapping[str, str], host: str) -> Reply:
        unknown = sorted(name for name in params if name.startswith("$") and name not in _KNOWN_OPTIONS)
        if unknown:
            return api_error(400, "invalidRequest", f"Query option {unknown[0]} is not supported.")
        try:
            return self._list(params, host)
        except ODataError as exc:
            return api_error(400, "invalidRequest", str(exc))

    def _list(self, params: Mapping[str, str], host: str) -> Reply:
        token = params.get("$skiptoken")
        if token is not None:
            snapshot_id, offset, size, select = _decode_token(token)
            snapshot = self.store.snapshot(snapshot_id)
            if snapshot is None:
                raise ODataError("$skiptoken has expired; start again from the first page")
        else:
            count_option = params.get("$count", "true").lower()
            if count_option not in ("true", "false"):
                raise ODataError("$count must be true or false")
            top = _non_negative(params, "$top")
            size = self.max_page_size if top is None else min(top, self.max_page_size)
            offset = _non_negative(params, "$skip") or 0
            select = params.get("$select", "").strip()
            snapshot = self.store.query(params.get("$filter"), params.get("$orderby"))
        items = self.store.page(snapshot, offset, size)
        if select:
            fields = [name.strip() for name in select.split(",") if name.strip()]
            items = [_select(item, fields) for item in items]
        context = f"https://{host}/v1.0/$metadata#Referrals"
        parts = [
            b'{"@odata.context":',
            json.dumps(context).encode(),
            b',"@odata.count":',
            str(len(snapshot.ids)).encode(),
            b',"value":[',
            b",".join(items),
            b"]",
        ]
        next_offset = offset + size
        if size > 0 and next_offset < len(snapshot.ids):
            parts += [
                b',"@odata.nextLink":',
                json.dumps(self._next_link(host, snapshot.id, next_offset, size, select)).encode(),
            ]
        parts.append(b"}")
        return Reply(200, b"".join(parts))

    def _next_link(self, host: str, snapshot_id: str, offset: int, size: int, select: str) -> str:
        path = f"{LIST_PATH}?$skiptoken={_encode_token(snapshot_id, offset, size, select)}"
        if self.next_link_style == "relative":
            return path
        scheme = "http" if self.next_link_style == "http" else "https"
        return f"{scheme}://{host}{path}"

    def get_referral(self, referral_id: str, host: str) -> Reply:
        body = self.store.get(referral_id)
        if body is None:
            return api_error(
                404, "itemNotFound", f"Referral '{referral_id}' was not found.", target="referral"
            )
        context = f"https://{host}/v1.0/engagments/referrals/$metadata#Referrals/$entity"
        prefix = b'{"@odata.context":' + json.dumps(context).encode()
        merged = prefix + (b"," + body[1:] if body != b"{}" else b"}")
        headers: list[tuple[str, str]] = []
        etag: Any = json.loads(body).get("eTag")
        if isinstance(etag, str) and etag:
            headers.append(("ETag", etag))
        return Reply(200, merged, headers)
