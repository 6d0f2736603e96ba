"""Export trained models as TF Serving SavedModels and TFLite files, checked and timed."""

from dlapps.export.exporter import ExportSpec, export_model, measure, read_labels
from dlapps.export.saved_model import Endpoint, load_saved_model, write_saved_model
from dlapps.export.tflite import TFLITE_FORMATS, TFLiteModel

__all__ = [
    "TFLITE_FORMATS",
    "Endpoint",
    "ExportSpec",
    "TFLiteModel",
    "export_model",
    "load_saved_model",
    "measure",
    "read_labels",
    "write_saved_model",
]
