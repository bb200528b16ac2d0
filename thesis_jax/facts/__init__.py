"""Facts: schema-v1 event payloads, writers (and readers for reports)."""
from thesis_jax.facts.schema import SCHEMA_VERSION, build_event, make_meta
from thesis_jax.facts.writers import FactsWriter
