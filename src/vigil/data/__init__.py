"""Data in: reading tables from files, fingerprinting them, and inferring their schema."""

from vigil.data.loading import Dataset, load_dataset, read_table
from vigil.data.schema import ColumnSchema, infer_schema

__all__ = ["ColumnSchema", "Dataset", "infer_schema", "load_dataset", "read_table"]
