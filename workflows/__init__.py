"""State machines of the convention's records: rules only, no Flask and no database."""
