"""Upgrades and licenses: quantities, what licenses grant, what an account has left."""
