"""Everything a person is told: emails, calendar files, and the words for each state."""
