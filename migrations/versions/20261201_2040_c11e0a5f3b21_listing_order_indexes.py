"""listing order indexes: newest first with NULLS LAST, as the listings sort (issue 11)

The answers listing sorts `submitted_at DESC NULLS LAST, id DESC`; PostgreSQL reads an index in that order only
if the index says NULLS LAST too (a DESC column's nulls come first by default), so the index of b8022de4bdb2 was
never used for the order: 5,000 answers were sorted on every page. The needs listing sorts the same way and had
no index for it. The needs page (/besoins/) orders every cycle's needs by their last change: 50,000 rows
sorted on every page of the national dataset, now read from ix_needs_updated. SQLite puts nulls last in a DESC order already and has no NULLS LAST in an index: there the
indexes are the plain DESC ones the models declare.

Revision ID: c11e0a5f3b21
Revises: a20010bcd48b
Create Date: 2026-12-01 20:40:00.000000

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = 'c11e0a5f3b21'
down_revision = 'a20010bcd48b'
branch_labels = None
depends_on = None


def upgrade():
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP INDEX IF EXISTS ix_applications_cycle_submitted")
        op.execute("CREATE INDEX ix_applications_cycle_submitted ON applications "
                   "(cycle_id, submitted_at DESC NULLS LAST, id DESC)")
        op.execute("CREATE INDEX ix_needs_cycle_submitted ON needs (cycle_id, submitted_at DESC NULLS LAST, id DESC)")
        op.execute("CREATE INDEX ix_needs_updated ON needs (updated_at DESC, id DESC)")
    else:
        with op.batch_alter_table('needs', schema=None) as batch_op:
            batch_op.create_index('ix_needs_cycle_submitted',
                                  ['cycle_id', sa.literal_column('submitted_at DESC'), sa.literal_column('id DESC')],
                                  unique=False)
            batch_op.create_index('ix_needs_updated',
                                  [sa.literal_column('updated_at DESC'), sa.literal_column('id DESC')], unique=False)


def downgrade():
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP INDEX IF EXISTS ix_needs_updated")
        op.execute("DROP INDEX IF EXISTS ix_needs_cycle_submitted")
        op.execute("DROP INDEX IF EXISTS ix_applications_cycle_submitted")
        op.execute("CREATE INDEX ix_applications_cycle_submitted ON applications (cycle_id, submitted_at DESC, id DESC)")
    else:
        with op.batch_alter_table('needs', schema=None) as batch_op:
            batch_op.drop_index('ix_needs_updated')
            batch_op.drop_index('ix_needs_cycle_submitted')
