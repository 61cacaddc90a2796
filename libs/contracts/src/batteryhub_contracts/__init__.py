"""battery-hub contracts: events, topics, the error-code table and payload parsing."""
