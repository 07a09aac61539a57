from django.db import migrations
from pgvector.django import VectorExtension


class Migration(migrations.Migration):
    """pgvector for Tera's embeddings; pgserver's PostgreSQL and the pgvector image ship it."""

    dependencies = [("practice", "0001_initial")]

    operations = [VectorExtension()]
