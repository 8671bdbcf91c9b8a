"""The database backs the workflow's "one at a time" rules with partial unique indexes.

Written by hand: tortoise's autodetector refuses partial unique constraints on SQLite, but both
SQLite and PostgreSQL accept this SQL.
"""

from tortoise import migrations
from tortoise.migrations import operations as ops


class Migration(migrations.Migration):
    dependencies = [("models", "0001_initial")]

    operations = [
        ops.RunSQL(
            [
                "CREATE UNIQUE INDEX uniq_one_funded_milestone_per_contract ON milestones "
                "(contract_id) WHERE status IN ('ACTIVE', 'SUBMITTED') AND deleted_at IS NULL",
                "CREATE UNIQUE INDEX uniq_one_pending_change_request_per_contract "
                "ON change_requests (contract_id) WHERE status = 'PENDING'",
                "CREATE UNIQUE INDEX uniq_one_pending_refund_request_per_contract "
                "ON refund_requests (contract_id) WHERE status = 'PENDING'",
            ],
            reverse_sql=[
                "DROP INDEX uniq_one_funded_milestone_per_contract",
                "DROP INDEX uniq_one_pending_change_request_per_contract",
                "DROP INDEX uniq_one_pending_refund_request_per_contract",
            ],
        )
    ]
