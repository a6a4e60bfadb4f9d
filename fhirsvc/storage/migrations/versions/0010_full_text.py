"""Full-text index for _text and _content (fhirsvc/storage/fulltext.py).

Revision ID: 0010
Revises: 0007

SQLite: an FTS5 virtual table (rowid = the resource's pk). PostgreSQL: tsvector columns with a
GIN index each. Resources stored before this revision get their words when reindexed
(`python -m fhirsvc reindex` or the reindex job).
"""
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        op.execute("CREATE VIRTUAL TABLE resource_text USING fts5("
                   "res_pk UNINDEXED, resource_type UNINDEXED, narrative, content, "
                   "tokenize = 'unicode61 remove_diacritics 2')")
        return
    op.execute("CREATE TABLE resource_text ("
               "res_pk BIGINT PRIMARY KEY REFERENCES resources (pk) ON DELETE CASCADE, "
               "resource_type VARCHAR(64) NOT NULL, narrative TSVECTOR NOT NULL, "
               "content TSVECTOR NOT NULL)")
    op.execute("CREATE INDEX ix_resource_text_narrative ON resource_text USING gin (narrative)")
    op.execute("CREATE INDEX ix_resource_text_content ON resource_text USING gin (content)")


def downgrade() -> None:
    op.execute("DROP TABLE resource_text")
