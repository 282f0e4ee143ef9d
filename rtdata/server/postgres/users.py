"""GoTrue's users in ``auth.users``: sign-up inserts there, so the app's triggers run (a
``profiles`` row made at sign-up), and a user made there (a seed file) can sign in.

Implements :class:`rtdata.server.gotrue.UserDirectory`. Sessions and refresh tokens stay in the
server's memory (:class:`~rtdata.server.gotrue.UserStore`): a restart signs everyone out.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from contextlib import AbstractAsyncContextManager
from datetime import UTC, datetime
from typing import Any

import orjson
import psycopg

from rtdata.server.gotrue import DirectoryError, StoredUser

__all__ = ["PostgresUsers"]

Connect = Callable[[], AbstractAsyncContextManager[psycopg.AsyncConnection[Any]]]

_INSERT_USER = """
insert into auth.users (
  instance_id, id, aud, role, email, encrypted_password, email_confirmed_at,
  raw_app_meta_data, raw_user_meta_data, created_at, updated_at, last_sign_in_at, is_anonymous
) values (
  '00000000-0000-0000-0000-000000000000', %(id)s::uuid, 'authenticated', 'authenticated', %(email)s,
  %(password)s, %(at)s, %(app)s::jsonb, %(user)s::jsonb, %(at)s, %(at)s, %(at)s, false
)"""

_INSERT_IDENTITY = """
insert into auth.identities (
  provider_id, user_id, identity_data, provider, last_sign_in_at, created_at, updated_at
) values (%(id)s::text, %(id)s::uuid, %(identity)s::jsonb, 'email', %(at)s, %(at)s, %(at)s)"""

_FIND = """
select id::text, email, encrypted_password, coalesce(raw_user_meta_data, '{}'::jsonb),
       coalesce(raw_app_meta_data, '{}'::jsonb), extract(epoch from created_at)
from auth.users
where lower(email) = %s and deleted_at is null and encrypted_password is not null"""

# GoTrue keeps ``provider`` and ``providers`` in raw_app_meta_data next to the custom claims.
_SET_APP_METADATA = """
update auth.users
set raw_app_meta_data = coalesce(
      (select jsonb_object_agg(key, value) from jsonb_each(coalesce(raw_app_meta_data, '{}'))
       where key in ('provider', 'providers')),
      '{}'::jsonb) || %(claims)s::jsonb,
    updated_at = now()
where lower(email) = %(email)s and deleted_at is null
returning id"""


class PostgresUsers:
    """Users kept in ``auth.users`` and ``auth.identities``.

    Args:
        connect: Lends a superuser connection (the REST pool's ``connection``).
    """

    def __init__(self, connect: Connect) -> None:
        self._connect = connect

    async def add(self, user: StoredUser) -> None:
        """Insert ``user`` and its email identity in one transaction, as GoTrue's sign-up does.

        Raises:
            DirectoryError: The database refused it (a trigger failed, a constraint held).
        """
        at = datetime.fromtimestamp(user.created_at_s, UTC)
        identity = {"sub": user.id, "email": user.email, "email_verified": False}
        values = {
            "id": user.id,
            "email": user.email,
            "password": user.encrypted_password,
            "at": at,
            "app": orjson.dumps(dict(user.app_metadata)).decode(),
            "user": orjson.dumps(dict(user.user_metadata)).decode(),
            "identity": orjson.dumps(identity).decode(),
        }
        try:
            async with self._connect() as conn, conn.transaction():
                await conn.execute(_INSERT_USER, values)
                await conn.execute(_INSERT_IDENTITY, values)
        except psycopg.Error as exc:
            raise DirectoryError(exc.diag.message_primary or type(exc).__name__) from None

    async def set_app_metadata(self, email: str, claims: Mapping[str, Any]) -> bool:
        """Replace the custom claims in the ``raw_app_meta_data`` of the user with this
        lower-case email (``provider`` and ``providers`` stay); return whether a user was
        found."""
        values = {"email": email, "claims": orjson.dumps(dict(claims)).decode()}
        async with self._connect() as conn, conn.transaction():
            cursor = await conn.execute(_SET_APP_METADATA, values)
            return await cursor.fetchone() is not None

    async def find(self, email: str) -> StoredUser | None:
        """Return the user with this lower-case email that has a password, or ``None``."""
        async with self._connect() as conn:
            cursor = await conn.execute(_FIND, (email,))
            row = await cursor.fetchone()
            await conn.rollback()
        if row is None:
            return None
        user_id, found_email, password, user_metadata, app_metadata, created_s = row
        return StoredUser(
            user_id,
            str(found_email).lower(),
            str(password),
            dict(user_metadata),
            dict(app_metadata),
            float(created_s or 0.0),
        )
