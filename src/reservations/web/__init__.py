"""What the pages of every audience share: forms, templates, languages, links, statuses, feeds."""
