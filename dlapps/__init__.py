"""dlapps: Keras applications trained with `model.fit` and shipped as SavedModel and TFLite."""

__version__ = "0.1.0"
