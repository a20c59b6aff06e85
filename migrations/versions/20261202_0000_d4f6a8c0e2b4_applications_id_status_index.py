"""applications (id, status) index: a page's answer counts read the answers' states from it (issue 11)

The needs listing counts, for the fifty needs of a page, their answers that are not drafts: a join of
`application_needs` with `applications` by id that reads only the state. Without a narrow index PostgreSQL
scanned the whole (wide) applications table for it on the medium dataset (4 ms); with it, an index-only scan.

Revision ID: d4f6a8c0e2b4
Revises: c3e5a7b9d1f2
Create Date: 2026-12-02 00:00:00.000000

"""
from alembic import op


# revision identifiers, used by Alembic.
revision = 'd4f6a8c0e2b4'
down_revision = 'c3e5a7b9d1f2'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('applications', schema=None) as batch_op:
        batch_op.create_index('ix_applications_id_status', ['id', 'status'], unique=False)


def downgrade():
    with op.batch_alter_table('applications', schema=None) as batch_op:
        batch_op.drop_index('ix_applications_id_status')
