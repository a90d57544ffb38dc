"""Portfolios: position parsing and validation, CSV import, demo seeding."""
