"""Shared test set-up: the fixtures live in tests/fixtures/, one module per job."""

pytest_plugins = ["tests.fixtures.timeouts", "tests.fixtures.db", "tests.fixtures.hub"]
