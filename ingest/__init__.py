"""Ingest news articles about the Xi–Putin summits into a searchable SQLite archive."""
