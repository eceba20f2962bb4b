"""Ingest: readers per input kind, column mappings per source, validation into the
canonical model (config/model.yml), and the quarantine for everything rejected."""
