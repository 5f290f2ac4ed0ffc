"""`hub loadtest`: simulated users against any hub, with a table and a JSON report."""
