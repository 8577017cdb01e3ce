"""The SQL projection of hazards for lists, statistics and ledgers; rebuilt from Temporal if lost."""
