"""A REST schema in the shape a real PostgREST 12 behind Supabase serves at ``/rest/v1/``.

Written after PostgREST's encoder (``src/PostgREST/Response/OpenAPI.hs``): ``required`` lists
every NOT NULL column (defaults or not), a column comment comes before the key notes after a
blank line, a column of a composite key that is also a foreign key carries both notes, a view
has neither ``required`` nor key notes and only ``get``, ``character varying(80)`` has
``maxLength``, arrays have ``items``, jsonb has no ``type``, an identity column shows no
default, and functions appear under ``/rpc/`` in ``paths`` but never in ``definitions``. The
``legacy`` table's ``code`` column has no ``format``, as some hand-edited or older documents do.
"""

from __future__ import annotations

from typing import Any

PK = "Note:\nThis is a Primary Key.<pk/>"


def fk(table: str, column: str) -> str:
    """Return the line PostgREST writes for a foreign key to ``table.column``."""
    return f"This is a Foreign Key to `{table}.{column}`.<fk table='{table}' column='{column}'/>"


def _path(table: str, writable: bool = True) -> dict[str, Any]:
    get = {
        "tags": [table],
        "parameters": [{"$ref": "#/parameters/select"}],
        "responses": {
            "200": {
                "description": "OK",
                "schema": {"type": "array", "items": {"$ref": f"#/definitions/{table}"}},
            },
            "206": {"description": "Partial Content"},
        },
    }
    if not writable:
        return {"get": get}
    return {
        "get": get,
        "post": {"tags": [table], "responses": {"201": {"description": "Created"}}},
        "delete": {"tags": [table], "responses": {"204": {"description": "No Content"}}},
        "patch": {"tags": [table], "responses": {"204": {"description": "No Content"}}},
    }


SUPABASE_DOCUMENT: dict[str, Any] = {
    "swagger": "2.0",
    "info": {
        "description": "",
        "title": "standard public schema",
        "version": "12.2.3 (519615d)",
    },
    "host": "abcdefghijklmnop.supabase.co:443",
    "basePath": "/",
    "schemes": ["https"],
    "consumes": [
        "application/json",
        "application/vnd.pgrst.object+json;nulls=stripped",
        "application/vnd.pgrst.object+json",
        "text/csv",
    ],
    "produces": [
        "application/json",
        "application/vnd.pgrst.object+json;nulls=stripped",
        "application/vnd.pgrst.object+json",
        "text/csv",
    ],
    "paths": {
        "/": {
            "get": {
                "tags": ["Introspection"],
                "summary": "OpenAPI description (this document)",
                "produces": ["application/openapi+json", "application/json"],
                "responses": {"200": {"description": "OK"}},
            }
        },
        "/hospitals": _path("hospitals"),
        "/patients": _path("patients"),
        "/patient_staff": _path("patient_staff"),
        "/ward_load": _path("ward_load", writable=False),
        "/legacy": _path("legacy"),
        "/rpc/admit": {
            "post": {
                "tags": ["(rpc) admit"],
                "parameters": [
                    {
                        "name": "args",
                        "required": True,
                        "in": "body",
                        "schema": {
                            "type": "object",
                            "required": ["patient"],
                            "properties": {"patient": {"format": "uuid", "type": "string"}},
                        },
                    }
                ],
                "responses": {"200": {"description": "OK"}},
            }
        },
    },
    "definitions": {
        "hospitals": {
            "required": ["id", "name", "created_at"],
            "properties": {
                "id": {"description": PK, "format": "bigint", "type": "integer"},
                "name": {"format": "text", "type": "string"},
                "beds": {"default": 0, "format": "integer", "type": "integer"},
                "created_at": {
                    "default": "now()",
                    "format": "timestamp with time zone",
                    "type": "string",
                },
            },
            "type": "object",
        },
        "patients": {
            "description": "People in care",
            "required": ["id", "hospital_id", "status", "updated_at"],
            "properties": {
                "id": {
                    "default": "gen_random_uuid()",
                    "description": PK,
                    "format": "uuid",
                    "type": "string",
                },
                "hospital_id": {
                    "description": "Where the patient is\n\nNote:\n" + fk("hospitals", "id"),
                    "format": "bigint",
                    "type": "integer",
                },
                "status": {
                    "default": "waiting",
                    "enum": ["waiting", "admitted", "discharged"],
                    "format": "patient_status",
                    "type": "string",
                },
                "name": {"format": "character varying", "maxLength": 80, "type": "string"},
                "tags": {"format": "text[]", "items": {"type": "string"}, "type": "array"},
                "vitals": {"format": "jsonb"},
                "updated_at": {
                    "default": "now()",
                    "format": "timestamp with time zone",
                    "type": "string",
                },
            },
            "type": "object",
        },
        "patient_staff": {
            "required": ["patient_id", "staff_id"],
            "properties": {
                "patient_id": {
                    "description": PK + "\n" + fk("patients", "id"),
                    "format": "uuid",
                    "type": "string",
                },
                "staff_id": {
                    "description": PK + "\n" + fk("staff", "id"),
                    "format": "bigint",
                    "type": "integer",
                },
                "updated_at": {"format": "text", "type": "string"},
            },
            "type": "object",
        },
        "ward_load": {
            "properties": {
                "hospital_id": {"format": "bigint", "type": "integer"},
                "patients": {"format": "bigint", "type": "integer"},
            },
            "type": "object",
        },
        "legacy": {
            "required": ["id"],
            "properties": {
                "id": {"description": PK, "format": "integer", "type": "integer"},
                "code": {"type": "string"},
            },
            "type": "object",
        },
    },
    "parameters": {
        "select": {
            "name": "select",
            "description": "Filtering Columns",
            "required": False,
            "in": "query",
            "type": "string",
        }
    },
    "externalDocs": {
        "description": "PostgREST Documentation",
        "url": "https://postgrest.org/en/v12/references/api.html",
    },
}
"""A Supabase project's REST schema: tables, a join table, a view, an RPC and a legacy table."""
