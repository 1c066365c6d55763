"""Definition metadata of the Hunter tables: name and column schema, from the SQLAlchemy tables."""

from __future__ import annotations

import dagster as dg
import sqlalchemy as sa

from partner_center_assets.hunter_db import schema

_TYPE_NAMES = {
    sa.Text: "text",
    sa.Double: "double",
    sa.BigInteger: "bigint",
    sa.Boolean: "boolean",
    sa.DateTime: "timestamptz",
    sa.JSON: "json",
}


def _type_name(column: sa.Column) -> str:
    for sql_type, name in _TYPE_NAMES.items():
        if isinstance(column.type, sql_type):
            return name
    return str(column.type).lower()


def table_metadata(table_name: str) -> dict[str, object]:
    """``dagster/table_name`` and ``dagster/column_schema`` for one Hunter table."""
    table = schema.metadata.tables[table_name]
    columns = [
        dg.TableColumn(
            name=column.name,
            type=_type_name(column),
            constraints=dg.TableColumnConstraints(nullable=column.nullable, unique=bool(column.primary_key)),
        )
        for column in table.columns
    ]
    return {"dagster/table_name": table_name, "dagster/column_schema": dg.TableSchema(columns=columns)}
