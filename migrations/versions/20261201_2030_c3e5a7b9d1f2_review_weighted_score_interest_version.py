"""review weighted score stored, buyer interest version (issue 7)

The ranking of a 20,000-answer cycle read 360,000 scores to compute each review's weighted score; it now reads
the score stored on each review (60,000 rows), kept true by the application whenever scores or the grid's
weights change. The backfill uses the same formula (models.reviews.weighted_score_sql).

buyer_interests.version: the optimistic check of two buyers saving an interest for the same answer and need.

Revision ID: c3e5a7b9d1f2
Revises: c11e0a5f3b21
Create Date: 2026-12-01 20:30:00.000000

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = 'c3e5a7b9d1f2'
down_revision = 'c11e0a5f3b21'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('reviews', schema=None) as batch_op:
        batch_op.add_column(sa.Column('weighted_score', sa.Float(), nullable=True))
        batch_op.create_index('ix_reviews_cycle_status_application',
                              ['cycle_id', 'status', 'application_id', 'weighted_score'], unique=False)
    op.execute(
        "UPDATE reviews SET weighted_score = ("
        "SELECT CAST(sum(criteria.weight * review_scores.value) / sum(criteria.weight) AS FLOAT) "
        "FROM review_scores JOIN criteria ON criteria.id = review_scores.criterion_id "
        "WHERE review_scores.review_id = reviews.id AND criteria.cycle_id = reviews.cycle_id "
        "AND review_scores.value IS NOT NULL)")
    with op.batch_alter_table('buyer_interests', schema=None) as batch_op:
        batch_op.add_column(sa.Column('version', sa.Integer(), server_default='1', nullable=False))


def downgrade():
    with op.batch_alter_table('buyer_interests', schema=None) as batch_op:
        batch_op.drop_column('version')
    with op.batch_alter_table('reviews', schema=None) as batch_op:
        batch_op.drop_index('ix_reviews_cycle_status_application')
        batch_op.drop_column('weighted_score')
