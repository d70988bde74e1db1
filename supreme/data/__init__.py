"""Market data: feeds, validation and storage."""
