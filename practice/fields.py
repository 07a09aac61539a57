"""Model fields whose values are encrypted in the database: clinical text (session notes,
amendments, transcripts, AI notes, their history copies, Tera's chunks and insights).

Each value is a Fernet token (AES-128-CBC with HMAC-SHA256, from `cryptography`) in a
`text` column, under the keys of FIELD_ENCRYPTION_KEYS (practice.crypto). A raw SQL read,
a pg_dump or a stolen disk shows only tokens. Reading a value no configured key opens
raises practice.crypto.DecryptionError: fail closed, never the token shown as text.

A token differs at every write, so the database can compare nothing inside it: these
fields allow no lookups but `isnull` (a filter on them raises FieldError instead of
silently matching nothing). Search and Tera work on decrypted values in Python and on
embeddings (tera.models.Chunk). A filter is no loss where it is already narrowed to one
patient or one recording.

Libraries were considered: django-fernet-encrypted-fields returns the stored value when
no key opens it (ciphertext shown as text), derives its keys from SECRET_KEY, and its JSON
field leaves the keys readable and turns every value into a string; django-cryptography
is unmaintained. So these two fields are written here on `cryptography`'s MultiFernet,
which gives rotation.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from django.db import models, transaction
from django.db.backends.base.base import BaseDatabaseWrapper
from django.db.backends.base.schema import BaseDatabaseSchemaEditor
from django.db.migrations.state import StateApps
from django.db.models.lookups import IsNull
from django.db.models.options import Options
from psycopg import sql

from practice import crypto


class _Encrypted:
    """Shared by both fields: a text column, and no lookup but isnull."""

    def db_type(self, connection: BaseDatabaseWrapper) -> str:
        return "text"

    def get_lookup(self, lookup_name: str) -> Any:
        return IsNull if lookup_name == "isnull" else None

    def get_transform(self, name: str) -> Any:
        return None


class EncryptedTextField(_Encrypted, models.TextField):
    def get_db_prep_value(
        self, value: Any, connection: BaseDatabaseWrapper, prepared: bool = False
    ) -> Any:
        value = super().get_db_prep_value(value, connection, prepared)
        if value is None or hasattr(value, "as_sql"):
            return value
        return crypto.encrypt_text(value)

    def from_db_value(self, value: str | None, expression: Any, connection: Any) -> str | None:
        return None if value is None else crypto.decrypt_text(value)


class EncryptedJSONField(_Encrypted, models.JSONField):
    """A JSONField (same validation, form field and Python values) stored as an
    encrypted JSON document. SQL NULL for None."""

    def get_internal_type(self) -> str:
        return "TextField"

    def get_db_prep_value(
        self, value: Any, connection: BaseDatabaseWrapper, prepared: bool = False
    ) -> Any:
        if not prepared:
            value = self.get_prep_value(value)
        if isinstance(value, models.Value):
            value = value.value
        if value is None or hasattr(value, "as_sql"):
            return value
        return crypto.encrypt_text(json.dumps(value, cls=self.encoder))

    def from_db_value(self, value: str | None, expression: Any, connection: Any) -> Any:
        return None if value is None else json.loads(crypto.decrypt_text(value), cls=self.decoder)


def encrypted_fields(model: type[models.Model]) -> list[models.Field[Any, Any]]:
    return [field for field in model._meta.concrete_fields if isinstance(field, _Encrypted)]


# --- Rewriting stored values: migrations and key rotation ------------------------------


def rewrite_values(
    connection: BaseDatabaseWrapper,
    meta: Options[Any],
    names: list[str],
    change: Callable[[str], str | None],
    *,
    batch: int = 500,
) -> tuple[int, int]:
    """Pass every non-null stored value of the fields `names` through `change` (None:
    leave it), in raw SQL so neither the model's current fields nor its save() take part;
    batches of rows, each locked while it is rewritten. Returns (values seen, changed)."""
    fields = {field.name: field for field in meta.concrete_fields}
    table, pk = sql.Identifier(meta.db_table), sql.Identifier(meta.pk.column)
    columns = [sql.Identifier(fields[name].column) for name in names]

    def select(after: bool) -> sql.Composed:
        return sql.SQL(
            "SELECT {pk}, {columns} FROM {table} {where} ORDER BY {pk} LIMIT %s FOR UPDATE"
        ).format(
            pk=pk,
            columns=sql.SQL(", ").join(columns),
            table=table,
            where=sql.SQL("WHERE {pk} > %s").format(pk=pk) if after else sql.SQL(""),
        )

    update = sql.SQL("UPDATE {table} SET {assignments} WHERE {pk} = %s").format(
        table=table,
        assignments=sql.SQL(", ").join(
            sql.SQL("{column} = COALESCE(%s, {column})").format(column=column) for column in columns
        ),
        pk=pk,
    )
    seen = changed = 0
    last: Any = None
    while True:
        with transaction.atomic(using=connection.alias), connection.cursor() as cursor:
            if last is None:
                cursor.execute(select(after=False), [batch])
            else:
                cursor.execute(select(after=True), [last, batch])
            rows = cursor.fetchall()
            updates = []
            for key, *values in rows:
                new = [None if value is None else change(value) for value in values]
                seen += sum(value is not None for value in values)
                changed += sum(value is not None for value in new)
                if any(value is not None for value in new):
                    updates.append([*new, key])
            if updates:
                cursor.executemany(update, updates)
        if len(rows) < batch:
            return seen, changed
        last = rows[-1][0]


def encrypt_existing(columns: dict[str, list[str]]) -> tuple[Any, Any]:
    """RunPython arguments that encrypt `columns` ({"app.Model": [field names]}) of a
    migration that turns plaintext fields into encrypted ones, and decrypt them backwards."""

    def run(change: Callable[[str], str]) -> Any:
        def operation(apps: StateApps, schema_editor: BaseDatabaseSchemaEditor) -> None:
            for label, names in columns.items():
                meta = apps.get_model(label)._meta
                rewrite_values(schema_editor.connection, meta, names, change)

        return operation

    return run(crypto.encrypt_text), run(crypto.decrypt_text)
