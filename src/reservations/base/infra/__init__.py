"""The infrastructure under the rules: the database handle, secrets, the mail outbox."""
