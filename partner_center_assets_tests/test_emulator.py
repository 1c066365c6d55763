"""The emulator's own behaviour, over HTTPS on loopback with plain ``requests``.

``REQUESTS_CA_BUNDLE`` may be set on this machine and would override ``Session.verify``, so every
call passes ``verify=`` explicitly.
"""

from __future__ import annotations

import base64
import json
import logging
import re
import signal
import subprocess
import sys
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urljoin

import pytest
import requests

from partner_center_assets.emulator import Emulator, Fault, generate_referrals, load_referrals

SCOPE = "https://api.partner.microsoft.com/.default"
USER_SCOPE = f"{SCOPE} offline_access openid profile"
LIST = "/v1.0/engagements/referrals"
DEVICE_GRANT = "urn:ietf:params:oauth:grant-type:device_code"


@pytest.fixture(scope="module")
def shared() -> Iterator[Emulator]:
    with Emulator(count=250, seed=11, device_code_interval=0) as emu:
        yield emu


@pytest.fixture
def emu(shared: Emulator) -> Iterator[Emulator]:
    """The module's emulator, with its data, faults and log reset for each test."""
    shared.generate(250, 11)
    shared.clear_faults()
    shared.reset_log()
    yield shared
    shared.clear_faults()


def token_request(emu: Emulator, **form: str) -> requests.Response:
    data = {"client_id": emu.client_id, **form}
    return requests.post(f"{emu.authority}/oauth2/v2.0/token", data=data, verify=str(emu.ca_path), timeout=10)


def app_token(emu: Emulator) -> str:
    response = token_request(
        emu, grant_type="client_credentials", client_secret=emu.client_secret, scope=SCOPE
    )
    response.raise_for_status()
    return response.json()["access_token"]


def get(emu: Emulator, url: str, token: str | None = None, **headers: str) -> requests.Response:
    if token is not None:
        headers["Authorization"] = f"Bearer {token}"
    full = url if url.startswith("http") else urljoin(emu.base_url, url)
    return requests.get(full, headers=headers, verify=str(emu.ca_path), timeout=10)


def list_url(**params: str) -> str:
    query = "&".join(f"{key}={value}" for key, value in params.items())
    return f"{LIST}?{query}" if query else LIST


def fetch_all(emu: Emulator, token: str, url: str) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = []
    next_url: str | None = url
    while next_url:
        body = get(emu, next_url, token).json()
        items.extend(body["value"])
        next_url = body.get("@odata.nextLink")
    return items


def referral(referral_id: str, **fields: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "id": referral_id,
        "engagementId": "e-" + referral_id,
        "status": "New",
        "substatus": "Pending",
        "direction": "Incoming",
        "type": "Shared",
        "qualification": "SalesQualified",
        "customerProfile": {"address": {"country": "US"}},
        "createdDateTime": "2024-01-01T00:00:00Z",
        "updatedDateTime": "2024-01-01T00:00:00Z",
    }
    base.update(fields)
    return base


# --- paging -------------------------------------------------------------------------------------


def test_a_page_holds_at_most_100_referrals_whatever_top_asks(emu: Emulator) -> None:
    body = get(emu, list_url(**{"$top": "500"}), app_token(emu)).json()
    assert len(body["value"]) == 100
    assert body["@odata.count"] == 250
    assert "@odata.nextLink" in body


def test_top_below_the_cap_sets_the_page_size(emu: Emulator) -> None:
    body = get(emu, list_url(**{"$top": "7"}), app_token(emu)).json()
    assert len(body["value"]) == 7


def test_without_top_pages_hold_100(emu: Emulator) -> None:
    body = get(emu, LIST, app_token(emu)).json()
    assert len(body["value"]) == 100
    assert body["@odata.context"].endswith("/v1.0/$metadata#Referrals")


def test_following_next_links_returns_every_referral_exactly_once(emu: Emulator) -> None:
    items = fetch_all(emu, app_token(emu), list_url(**{"$orderby": "updatedDateTime desc"}))
    ids = [item["id"] for item in items]
    assert len(ids) == 250
    assert len(set(ids)) == 250


def test_select_keeps_only_the_named_fields_on_every_page(emu: Emulator) -> None:
    token = app_token(emu)
    first = get(emu, list_url(**{"$select": "id,status", "$top": "100"}), token).json()
    second = get(emu, first["@odata.nextLink"], token).json()
    assert {tuple(sorted(item)) for item in first["value"] + second["value"]} == {("id", "status")}


def test_the_last_page_has_no_next_link(emu: Emulator) -> None:
    token = app_token(emu)
    body = get(emu, list_url(**{"$skip": "200"}), token).json()
    assert len(body["value"]) == 50
    assert "@odata.nextLink" not in body


def test_skiptoken_is_opaque_and_url_safe(emu: Emulator) -> None:
    link = get(emu, LIST, app_token(emu)).json()["@odata.nextLink"]
    token = link.split("$skiptoken=", 1)[1]
    assert re.fullmatch(r"[A-Za-z0-9_-]+", token)


def test_paging_keeps_walking_the_same_list_when_data_changes(emu: Emulator) -> None:
    token = app_token(emu)
    first = get(emu, LIST, token).json()
    emu.upsert_referrals([referral("added-during-paging")])
    rest = fetch_all(emu, token, first["@odata.nextLink"])
    ids = [item["id"] for item in first["value"] + rest]
    assert len(ids) == 250
    assert "added-during-paging" not in ids


def test_a_new_query_sees_changed_data(emu: Emulator) -> None:
    token = app_token(emu)
    url = list_url(**{"$filter": "status eq 'Closed'"})
    before = get(emu, url, token).json()["@odata.count"]
    emu.upsert_referrals([referral("now-closed", status="Closed", substatus="Won")])
    assert get(emu, url, token).json()["@odata.count"] == before + 1


def test_an_unknown_skiptoken_is_a_400(emu: Emulator) -> None:
    response = get(emu, list_url(**{"$skiptoken": "bm90LWEtdG9rZW4"}), app_token(emu))
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "invalidRequest"


@pytest.mark.parametrize(
    ("style", "prefix"),
    [
        ("absolute", "https://127.0.0.1:"),
        ("relative", "/v1.0/engagements/referrals?"),
        ("http", "http://127.0.0.1:"),
    ],
)
def test_next_link_style(style: str, prefix: str) -> None:
    with Emulator(count=30, max_page_size=10, next_link_style=style) as emu:
        token = app_token(emu)
        link = get(emu, LIST, token).json()["@odata.nextLink"]
        assert link.startswith(prefix)
        https_link = urljoin(emu.base_url, link.replace("http://", "https://", 1))
        assert len(get(emu, https_link, token).json()["value"]) == 10


def test_max_page_size_is_configurable() -> None:
    with Emulator(count=30, max_page_size=10) as emu:
        token = app_token(emu)
        body = get(emu, list_url(**{"$top": "200"}), token).json()
        assert len(body["value"]) == 10
        assert len(fetch_all(emu, token, LIST)) == 30


# --- $filter and $orderby -------------------------------------------------------------------------


def test_filter_with_and_or_and_parentheses_matches_the_same_referrals_as_python(emu: Emulator) -> None:
    expression = "direction eq 'Incoming' and (status eq 'Active' or status eq 'New')"
    items = fetch_all(emu, app_token(emu), list_url(**{"$filter": expression}))
    expected = {
        r["id"] for r in emu.referrals if r["direction"] == "Incoming" and r["status"] in ("Active", "New")
    }
    assert {item["id"] for item in items} == expected
    assert expected


def test_filter_on_nested_country(emu: Emulator) -> None:
    items = fetch_all(emu, app_token(emu), list_url(**{"$filter": "customerProfile/address/country eq 'GB'"}))
    assert items
    assert {item["customerProfile"]["address"]["country"] for item in items} == {"GB"}


def test_filter_literal_with_doubled_single_quote(emu: Emulator) -> None:
    emu.set_referrals([referral("a", engagementId="O'Brien deal"), referral("b", engagementId="O")])
    body = get(emu, list_url(**{"$filter": "engagementId eq 'O''Brien deal'"}), app_token(emu)).json()
    assert [item["id"] for item in body["value"]] == ["a"]


def test_or_binds_looser_than_and(emu: Emulator) -> None:
    emu.set_referrals(
        [
            referral("new-out", status="New", direction="Outgoing"),
            referral("active-in", status="Active", direction="Incoming"),
            referral("closed-in", status="Closed", direction="Incoming"),
        ]
    )
    expression = "status eq 'New' or status eq 'Active' and direction eq 'Incoming'"
    body = get(emu, list_url(**{"$filter": expression}), app_token(emu)).json()
    assert sorted(item["id"] for item in body["value"]) == ["active-in", "new-out"]


@pytest.mark.parametrize(
    "expression",
    [
        "name eq 'x'",
        "status gt 'New'",
        "team/any(t:t/email eq 'r2d2@contoso.com')",
        "status eq 'New",
        "(status eq 'New'",
        "status eq New",
        "status eq 'New' and",
    ],
)
def test_filter_outside_the_supported_subset_is_a_400(emu: Emulator, expression: str) -> None:
    response = get(emu, list_url(**{"$filter": expression}), app_token(emu))
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["code"] == "invalidRequest"
    assert error["message"].startswith("$filter")


def test_orderby_compares_instants_not_strings(emu: Emulator) -> None:
    emu.set_referrals(
        [
            referral("whole", updatedDateTime="2024-01-01T00:00:00Z"),
            referral("half", updatedDateTime="2024-01-01T00:00:00.5Z"),
            referral("tick", updatedDateTime="2024-01-01T00:00:00.0000001Z"),
            referral("later", updatedDateTime="2024-01-01T00:00:01.1234Z"),
        ]
    )
    body = get(emu, list_url(**{"$orderby": "updatedDateTime desc"}), app_token(emu)).json()
    assert [item["id"] for item in body["value"]] == ["later", "half", "tick", "whole"]


def test_orderby_ties_are_broken_by_id(emu: Emulator) -> None:
    emu.set_referrals([referral(name, createdDateTime="2024-02-02T00:00:00Z") for name in ("c", "a", "b")])
    body = get(emu, list_url(**{"$orderby": "createdDateTime asc"}), app_token(emu)).json()
    assert [item["id"] for item in body["value"]] == ["a", "b", "c"]


def test_orderby_on_another_field_is_a_400(emu: Emulator) -> None:
    response = get(emu, list_url(**{"$orderby": "name desc"}), app_token(emu))
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "invalidRequest"


# --- get by id, headers, auth on the API ---------------------------------------------------------


def test_get_by_id_returns_the_referral_with_its_context(emu: Emulator) -> None:
    wanted = emu.referrals[3]
    response = get(emu, f"{LIST}/{wanted['id']}", app_token(emu))
    body = response.json()
    assert body["id"] == wanted["id"]
    assert body["customerProfile"] == wanted["customerProfile"]
    assert body["@odata.context"].endswith("$metadata#Referrals/$entity")
    assert response.headers["ETag"] == wanted["eTag"]


def test_get_of_a_missing_id_is_404_item_not_found(emu: Emulator) -> None:
    response = get(emu, f"{LIST}/00000000-0000-0000-0000-000000000000", app_token(emu))
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "itemNotFound"


def test_responses_carry_a_request_id_and_echo_the_client_request_id(emu: Emulator) -> None:
    response = get(emu, LIST, app_token(emu), **{"client-request-id": "3f1c2d9e-1111-4222-8333-944445555666"})
    assert re.fullmatch(r"[0-9a-f-]{36}", response.headers["request-id"])
    assert response.headers["client-request-id"] == "3f1c2d9e-1111-4222-8333-944445555666"


def test_responses_keep_the_connection_open(emu: Emulator) -> None:
    response = get(emu, LIST, app_token(emu))
    assert response.headers.get("Connection", "").lower() != "close"
    assert int(response.headers["Content-Length"]) == len(response.content)


def test_api_without_token_is_401_unauthenticated(emu: Emulator) -> None:
    response = get(emu, LIST)
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "unauthenticated"


def test_api_with_an_unknown_token_is_401(emu: Emulator) -> None:
    assert get(emu, LIST, "not-a-token").status_code == 401


def test_expired_access_tokens_are_refused(emu: Emulator) -> None:
    token = app_token(emu)
    assert get(emu, LIST, token).status_code == 200
    emu.expire_access_tokens()
    response = get(emu, LIST, token)
    assert response.status_code == 401
    assert "expired" in response.json()["error"]["message"]


def test_the_log_tells_app_tokens_from_user_tokens(emu: Emulator) -> None:
    user = token_request(
        emu, grant_type="password", username=emu.username, password=emu.password, scope=USER_SCOPE
    )
    get(emu, LIST, app_token(emu))
    get(emu, LIST, user.json()["access_token"])
    assert [record.token_kind for record in emu.api_requests()] == ["app", "user"]


# --- identity -------------------------------------------------------------------------------------


def test_openid_configuration_points_to_https_endpoints_on_the_emulator(emu: Emulator) -> None:
    config = get(emu, f"/{emu.tenant_id}/v2.0/.well-known/openid-configuration").json()
    assert config["issuer"] == f"{emu.authority_host}/{emu.tenant_id}/v2.0"
    assert config["token_endpoint"] == f"{emu.authority}/oauth2/v2.0/token"
    assert config["device_authorization_endpoint"] == f"{emu.authority}/oauth2/v2.0/devicecode"
    assert config["authorization_endpoint"].startswith(emu.authority_host)


def test_organizations_is_accepted_as_tenant(emu: Emulator) -> None:
    response = get(emu, "/organizations/v2.0/.well-known/openid-configuration")
    assert response.json()["token_endpoint"] == f"{emu.authority_host}/organizations/oauth2/v2.0/token"


def test_an_unknown_tenant_is_refused(emu: Emulator) -> None:
    response = get(emu, "/other-tenant/v2.0/.well-known/openid-configuration")
    assert response.status_code == 400
    assert response.json()["error"] == "invalid_tenant"


def test_user_realm_says_managed(emu: Emulator) -> None:
    body = get(emu, f"/common/userrealm/{emu.username}?api-version=1.0").json()
    assert body["account_type"] == "Managed"


def test_client_credentials_grant_gives_an_access_token_only(emu: Emulator) -> None:
    body = token_request(
        emu, grant_type="client_credentials", client_secret=emu.client_secret, scope=SCOPE
    ).json()
    assert body["token_type"] == "Bearer"
    assert body["expires_in"] == 3600
    assert "refresh_token" not in body


def test_wrong_client_secret_is_401_invalid_client(emu: Emulator) -> None:
    response = token_request(emu, grant_type="client_credentials", client_secret="wrong", scope=SCOPE)
    assert response.status_code == 401
    assert response.json()["error"] == "invalid_client"
    assert response.json()["error_description"].startswith("AADSTS7000215")


def test_another_scope_is_invalid_scope(emu: Emulator) -> None:
    response = token_request(
        emu,
        grant_type="client_credentials",
        client_secret=emu.client_secret,
        scope="https://graph.microsoft.com/.default",
    )
    assert response.status_code == 400
    assert response.json()["error"] == "invalid_scope"


def test_password_grant_returns_user_tokens_msal_can_read(emu: Emulator) -> None:
    body = token_request(
        emu, grant_type="password", username=emu.username, password=emu.password, scope=USER_SCOPE
    ).json()
    assert {"access_token", "refresh_token", "id_token", "client_info", "expires_in", "scope"} <= set(body)
    claims = json.loads(base64.urlsafe_b64decode(body["id_token"].split(".")[1] + "=="))
    assert claims["preferred_username"] == emu.username
    assert claims["tid"] == emu.tenant_id
    assert claims["aud"] == emu.client_id
    assert {"iss", "sub", "oid", "exp", "iat"} <= set(claims)
    client_info = json.loads(base64.urlsafe_b64decode(body["client_info"] + "=="))
    assert client_info == {"uid": claims["oid"], "utid": emu.tenant_id}


def test_wrong_password_is_400_invalid_grant(emu: Emulator) -> None:
    response = token_request(
        emu, grant_type="password", username=emu.username, password="nope", scope=USER_SCOPE
    )
    assert response.status_code == 400
    assert response.json()["error"] == "invalid_grant"
    assert response.json()["error_description"].startswith("AADSTS50126")


def test_refresh_grant_rotates_the_refresh_token(emu: Emulator) -> None:
    first = emu.issue_refresh_token()
    body = token_request(emu, grant_type="refresh_token", refresh_token=first, scope=USER_SCOPE).json()
    assert body["refresh_token"] != first
    assert get(emu, LIST, body["access_token"]).status_code == 200


def test_revoked_refresh_tokens_are_invalid_grant(emu: Emulator) -> None:
    token = emu.issue_refresh_token()
    emu.revoke_refresh_tokens()
    response = token_request(emu, grant_type="refresh_token", refresh_token=token, scope=USER_SCOPE)
    assert response.status_code == 400
    assert response.json()["error"] == "invalid_grant"


def test_device_code_is_pending_once_then_approved(emu: Emulator) -> None:
    flow = requests.post(
        f"{emu.authority}/oauth2/v2.0/devicecode",
        data={"client_id": emu.client_id, "scope": USER_SCOPE},
        verify=str(emu.ca_path),
        timeout=10,
    ).json()
    assert {"user_code", "device_code", "verification_uri", "expires_in", "interval", "message"} <= set(flow)
    assert flow["interval"] == 0
    pending = token_request(emu, grant_type=DEVICE_GRANT, device_code=flow["device_code"])
    assert pending.status_code == 400
    assert pending.json()["error"] == "authorization_pending"
    approved = token_request(emu, grant_type=DEVICE_GRANT, device_code=flow["device_code"])
    assert approved.status_code == 200
    assert "refresh_token" in approved.json()


def test_token_requests_are_logged_with_their_grant_type_but_no_secret(
    emu: Emulator, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="partner_center_assets.emulator")
    body = token_request(
        emu, grant_type="password", username=emu.username, password=emu.password, scope=USER_SCOPE
    ).json()
    get(emu, LIST, body["access_token"])
    records = emu.requests
    assert [record.grant_type for record in records] == ["password", None]
    assert records[1].authorization == "Bearer <redacted>"
    everything = caplog.text + repr(records)
    for secret in (emu.password, body["access_token"], body["refresh_token"]):
        assert secret not in everything
    assert records[1].request_id in caplog.text


# --- faults ---------------------------------------------------------------------------------------


def test_status_fault_429_carries_retry_after(emu: Emulator) -> None:
    token = app_token(emu)
    emu.add_fault(Fault("status", status=429, retry_after=3))
    response = get(emu, LIST, token)
    assert response.status_code == 429
    assert response.headers["Retry-After"] == "3"
    assert "Rate limit" in response.json()["message"]
    assert get(emu, LIST, token).status_code == 200


def test_status_fault_503_has_a_partner_center_error_body(emu: Emulator) -> None:
    token = app_token(emu)
    emu.add_fault(Fault("status", status=503, count=2))
    assert [get(emu, LIST, token).status_code for _ in range(3)] == [503, 503, 200]
    assert emu.api_requests()[0].fault == "status"


def test_fault_after_skips_matching_requests_first(emu: Emulator) -> None:
    token = app_token(emu)
    emu.add_fault(Fault("status", status=500, after=1))
    assert [get(emu, LIST, token).status_code for _ in range(3)] == [200, 500, 200]


def test_drop_fault_closes_the_connection_without_an_answer(emu: Emulator) -> None:
    token = app_token(emu)
    emu.add_fault(Fault("drop"))
    with pytest.raises(requests.ConnectionError):
        get(emu, LIST, token)
    assert emu.api_requests()[-1].status is None
    assert get(emu, LIST, token).status_code == 200


def test_malformed_fault_answers_200_with_broken_json(emu: Emulator) -> None:
    token = app_token(emu)
    emu.add_fault(Fault("malformed"))
    response = get(emu, LIST, token)
    assert response.status_code == 200
    with pytest.raises(ValueError):
        response.json()


def test_slow_fault_still_answers_normally(emu: Emulator) -> None:
    token = app_token(emu)
    emu.add_fault(Fault("slow", delay=0.05))
    assert len(get(emu, LIST, token).json()["value"]) == 100
    assert emu.api_requests()[-1].fault == "slow"


def test_expire_token_fault_is_a_401(emu: Emulator) -> None:
    token = app_token(emu)
    emu.add_fault(Fault("expire_token"))
    assert get(emu, LIST, token).status_code == 401
    assert get(emu, LIST, token).status_code == 200


def test_faults_can_target_the_token_endpoint(emu: Emulator) -> None:
    emu.add_fault(Fault("status", status=503, path_prefix=f"/{emu.tenant_id}/oauth2/v2.0/token"))
    response = token_request(
        emu, grant_type="client_credentials", client_secret=emu.client_secret, scope=SCOPE
    )
    assert response.status_code == 503
    assert response.json()["error"] == "temporarily_unavailable"
    assert app_token(emu)


def test_an_unknown_fault_kind_is_rejected() -> None:
    with pytest.raises(ValueError):
        Fault("explode")


# --- admin endpoints ------------------------------------------------------------------------------


def admin(emu: Emulator, method: str, endpoint: str, payload: Any = None) -> requests.Response:
    return requests.request(
        method, f"{emu.base_url}/_emulator/{endpoint}", json=payload, verify=str(emu.ca_path), timeout=30
    )


def test_admin_endpoints_replace_and_upsert_referrals(emu: Emulator) -> None:
    assert admin(emu, "PUT", "referrals", [referral("x"), referral("y")]).json()["count"] == 2
    assert admin(emu, "POST", "referrals", {"value": [referral("y", status="Closed"), referral("z")]}).ok
    stored = {r["id"]: r["status"] for r in emu.referrals}
    assert stored == {"x": "New", "y": "Closed", "z": "New"}


def test_admin_generate_replaces_the_data(emu: Emulator) -> None:
    assert admin(emu, "POST", "generate", {"count": 12, "seed": 2}).json() == {"count": 12}
    assert [r["id"] for r in emu.referrals] == [r["id"] for r in generate_referrals(12, 2)]


def test_admin_faults_and_token_controls(emu: Emulator) -> None:
    token = app_token(emu)
    assert (
        admin(emu, "POST", "faults", {"kind": "status", "status": 429, "retry_after": 1}).status_code == 201
    )
    assert get(emu, LIST, token).status_code == 429
    admin(emu, "POST", "faults", {"kind": "status", "status": 500})
    admin(emu, "DELETE", "faults")
    assert get(emu, LIST, token).status_code == 200
    admin(emu, "POST", "tokens/expire")
    assert get(emu, LIST, token).status_code == 401
    refresh = admin(emu, "POST", "tokens/refresh-token").json()["refresh_token"]
    admin(emu, "POST", "tokens/revoke-refresh")
    assert (
        token_request(emu, grant_type="refresh_token", refresh_token=refresh).json()["error"]
        == "invalid_grant"
    )


def test_admin_requests_lists_the_log_without_admin_calls(emu: Emulator) -> None:
    get(emu, LIST, app_token(emu))
    records = admin(emu, "GET", "requests").json()
    assert [(r["method"], r["path"], r["status"]) for r in records][-1] == ("GET", LIST, 200)
    assert all(not r["path"].startswith("/_emulator") for r in records)


def test_admin_rejects_a_bad_fault(emu: Emulator) -> None:
    assert admin(emu, "POST", "faults", {"kind": "status"}).status_code == 400


# --- generator ------------------------------------------------------------------------------------


def test_generator_is_deterministic_per_seed() -> None:
    assert generate_referrals(40, seed=3) == generate_referrals(40, seed=3)
    assert generate_referrals(40, seed=3) != generate_referrals(40, seed=4)


@pytest.fixture(scope="module")
def sample() -> list[dict[str, Any]]:
    return generate_referrals(3000, seed=5)


def test_generated_status_and_substatus_are_valid_pairs_with_a_realistic_mix(
    sample: list[dict[str, Any]],
) -> None:
    valid = {
        "New": {"Pending", "Received"},
        "Active": {"Accepted"},
        "Closed": {"Won", "Lost", "Declined", "Expired"},
    }
    pairs = Counter((r["status"], r["substatus"]) for r in sample)
    assert all(sub in valid[status] for status, sub in pairs)
    assert len(pairs) == 7
    open_share = sum(n for (status, _), n in pairs.items() if status in ("New", "Active")) / len(sample)
    assert 0.6 < open_share < 0.9


def test_generated_referrals_are_mostly_incoming(sample: list[dict[str, Any]]) -> None:
    directions = Counter(r["direction"] for r in sample)
    assert set(directions) == {"Incoming", "Outgoing"}
    assert directions["Incoming"] > 3 * directions["Outgoing"]


def test_generated_contact_emails_are_untidy_like_real_ones(sample: list[dict[str, Any]]) -> None:
    contacts = [member for r in sample for member in r["customerProfile"]["team"]]
    emails = [member.get("email") for member in contacts]
    domains = [email.rsplit("@", 1)[1] for email in emails if email]
    assert any(d in ("gmail.com", "outlook.com", "yahoo.co.uk", "hotmail.com") for d in domains)
    assert any(not d.isascii() for d in domains)
    assert any(d.startswith(("sales.", "mail.", "uk.", "eu.")) for d in domains)
    assert any(d != d.lower() for d in domains)
    assert "" in emails
    assert None in emails
    assert any("email" not in member for member in contacts)
    assert any(not r["customerProfile"]["team"] for r in sample)


def test_generated_companies_and_engagements_repeat(sample: list[dict[str, Any]]) -> None:
    companies = Counter(r["customerProfile"]["name"] for r in sample)
    engagements = Counter(r["engagementId"] for r in sample)
    assert max(companies.values()) >= 2
    assert max(engagements.values()) >= 2
    assert len(companies) > len(sample) / 3


def test_generated_sellers_are_on_the_partner_domain(sample: list[dict[str, Any]]) -> None:
    seller_domains = {m["email"].rsplit("@", 1)[1].lower() for r in sample for m in r["team"]}
    assert seller_domains <= {"partner.example", "sales.partner.example"}


def test_generated_timestamps_use_0_to_7_fractional_digits(sample: list[dict[str, Any]]) -> None:
    digits = Counter(len(r["updatedDateTime"].rstrip("Z").partition(".")[2]) for r in sample)
    assert {0, 3, 6, 7} <= set(digits)
    assert all(r["updatedDateTime"] >= r["createdDateTime"][:19] for r in sample)


def test_generated_details_mix_currencies_and_countries(sample: list[dict[str, Any]]) -> None:
    currencies = {r["details"]["currency"] for r in sample}
    countries = {r["customerProfile"]["address"]["country"] for r in sample}
    assert {"USD", "EUR", "GBP", "JPY"} <= currencies
    assert all(re.fullmatch(r"[A-Z]{2}", country) for country in countries)
    assert all(isinstance(r["details"]["dealValue"], float) for r in sample)
    assert {ids["profileType"] for r in sample for ids in r["customerProfile"]["ids"]} == {"Duns", "External"}


def test_load_referrals_reads_a_list_or_a_page(tmp_path: Path) -> None:
    items = generate_referrals(3)
    (tmp_path / "list.json").write_text(json.dumps(items), encoding="utf-8")
    (tmp_path / "page.json").write_text(json.dumps({"value": items}), encoding="utf-8")
    assert load_referrals(tmp_path / "list.json") == items
    assert load_referrals(tmp_path / "page.json") == items


# --- command line ---------------------------------------------------------------------------------


def test_cli_serves_until_sigterm_and_prints_how_to_point_the_product_at_it(tmp_path: Path) -> None:
    code = "from partner_center_assets.cli.emulator import emulator; emulator()"
    command = [
        sys.executable,
        "-c",
        code,
        "--port",
        "0",
        "--count",
        "5",
        "--state-dir",
        str(tmp_path),
        "--quiet",
    ]
    with subprocess.Popen(command, stdout=subprocess.PIPE, text=True) as process:
        assert process.stdout is not None
        lines = []
        for line in process.stdout:
            lines.append(line)
            if line.startswith("Press Ctrl-C"):
                break
        output = "".join(lines)
        base_url = re.search(r"HUNTER_PARTNER_CENTER_BASE_URL=(\S+)", output)
        assert base_url is not None
        assert f"REQUESTS_CA_BUNDLE={tmp_path / 'ca.pem'}" in output
        status = requests.get(
            f"{base_url.group(1)}/_emulator/status", verify=str(tmp_path / "ca.pem"), timeout=10
        )
        assert status.json()["referrals"] == 5
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=10) == 0
