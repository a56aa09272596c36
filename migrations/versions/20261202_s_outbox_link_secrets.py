"""outbox: sealed link secrets; live links masked in the mail already sent

Revision ID: 20261202_s
Revises: 6d9e1b7a1c86
Create Date: 2026-12-02 10:00:00+00:00

The outbox now keeps placeholders for the secrets of its links (``infra.secret_links``). The
messages already sent kept live manage and waiting-list links: their secrets are masked here
(nobody needs them again). Messages not sent yet are left whole: they go out with their links,
and the mailer masks them once sent.
"""

import re
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "20261202_s"
down_revision: str | None = "6d9e1b7a1c86"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# As in secret_links when this was written (a migration does not follow later code).
_SECRET_IN_PATH = re.compile(
    r"(?P<prefix>/(?:manage|waitlist|farm)/)(?P<secret>[A-Za-z0-9_-]{16,})(?![A-Za-z0-9_-])"
)
_FOLD = re.compile(r"\r?\n[ \t]")


def _mask(text: str | None) -> str | None:
    if text is None:
        return None
    return _SECRET_IN_PATH.sub(lambda m: m["prefix"] + "[secret]", text)


def _masked_part(part: dict[str, str]) -> dict[str, str]:
    """A calendar's lines may be folded inside a link: unfold the ones that hold a secret."""
    unfolded = _FOLD.sub("", part.get("content", ""))
    if not _SECRET_IN_PATH.search(unfolded):
        return part
    return {**part, "content": _mask(unfolded) or ""}


def upgrade() -> None:
    with op.batch_alter_table("outbox_message", schema=None) as batch_op:
        batch_op.add_column(sa.Column("link_secrets", sa.Text(), nullable=True))

    outbox = sa.table(
        "outbox_message",
        sa.column("id", sa.Integer()),
        sa.column("subject", sa.String()),
        sa.column("text_body", sa.Text()),
        sa.column("html_body", sa.Text()),
        sa.column("attachments", sa.JSON()),
        sa.column("sent_at", sa.DateTime()),
    )
    connection = op.get_bind()
    rows = connection.execute(
        sa.select(
            outbox.c.id,
            outbox.c.subject,
            outbox.c.text_body,
            outbox.c.html_body,
            outbox.c.attachments,
        ).where(outbox.c.sent_at.is_not(None))
    ).all()
    for row in rows:
        attachments = [_masked_part(part) for part in (row.attachments or [])]
        masked = {
            "subject": _mask(row.subject),
            "text_body": _mask(row.text_body),
            "html_body": _mask(row.html_body),
            "attachments": attachments,
        }
        if masked != {
            "subject": row.subject,
            "text_body": row.text_body,
            "html_body": row.html_body,
            "attachments": row.attachments or [],
        }:
            connection.execute(sa.update(outbox).where(outbox.c.id == row.id).values(**masked))


def downgrade() -> None:
    with op.batch_alter_table("outbox_message", schema=None) as batch_op:
        batch_op.drop_column("link_secrets")
