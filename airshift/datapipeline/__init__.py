"""Convert AWS Data Pipeline definitions into Airflow 3 DAGs (``airshift datapipeline``)."""

from airshift.datapipeline.convert import convert_file, convert_folder, write_result
from airshift.datapipeline.report import ConversionResult

__all__ = ["ConversionResult", "convert_file", "convert_folder", "write_result"]
