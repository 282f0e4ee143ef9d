"""The local server: a Supabase stand-in speaking the Realtime protocol and PostgREST's REST.

For development, demos and tests; Supabase Realtime is what scales out.
"""

from rtdata.server.app import DEFAULT_PORT, LocalServer, build_app
from rtdata.server.auth import DEFAULT_JWT_SECRET, Keys
from rtdata.server.schema import Schema, SchemaError, load_schema

__all__ = [
    "DEFAULT_JWT_SECRET",
    "DEFAULT_PORT",
    "Keys",
    "LocalServer",
    "Schema",
    "SchemaError",
    "build_app",
    "load_schema",
]
