"""The Hunter database resource: errors that name ``HUNTER_DATABASE_URL`` and never its password."""

from __future__ import annotations

import pytest
from sqlalchemy.engine import make_url

from partner_center_assets.defs.partner_center.resources import HunterDatabase
from partner_center_assets.hunter_db.engine import HunterDatabaseUnavailableError

PASSWORD = "s3cret-Pa55"


@pytest.mark.parametrize(
    "url",
    [
        pytest.param("notaurl", id="not-a-url"),
        pytest.param(f"postgresql+psycopg://hunter:{PASSWORD}@127.0.0.1:notaport/hunter", id="bad-port"),
    ],
)
def test_a_url_that_does_not_parse_is_refused_naming_the_variable(url: str) -> None:
    with pytest.raises(ValueError, match="HUNTER_DATABASE_URL is not a database URL") as raised:
        HunterDatabase(url=url).ensure_schema()

    assert PASSWORD not in str(raised.value)
    assert raised.value.__cause__ is None and raised.value.__suppress_context__


def test_an_unreachable_database_is_named_with_its_password_hidden() -> None:
    url = f"postgresql+psycopg://hunter:{PASSWORD}@127.0.0.1:1/hunter"

    with pytest.raises(HunterDatabaseUnavailableError) as raised:
        HunterDatabase(url=url).ensure_schema()

    message = str(raised.value)
    assert message.startswith(
        "Could not open the Hunter database postgresql+psycopg://hunter:***@127.0.0.1:1/hunter"
    )
    assert "(HUNTER_DATABASE_URL)" in message
    assert PASSWORD not in message


def test_a_postgresql_database_that_does_not_exist_is_named(postgres_admin_url: str) -> None:
    url = make_url(postgres_admin_url).set(database="hunter_no_such_database").render_as_string(False)

    with pytest.raises(
        HunterDatabaseUnavailableError, match='database "hunter_no_such_database" does not exist'
    ):
        HunterDatabase(url=url).ensure_schema()
