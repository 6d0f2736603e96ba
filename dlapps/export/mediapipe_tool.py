"""Writes TFLite Model Metadata for MediaPipe Tasks, and runs files through MediaPipe Tasks.

This file is a script for the separate MediaPipe environment (`mediapipe`
pins numpy < 2 and protobuf < 5, which TensorFlow 2.21 cannot share): it
imports only the standard library, numpy and `mediapipe`, never TensorFlow
or dlapps. `dlapps.export.mediapipe_metadata` runs it in a subprocess:

    .venv-mediapipe/bin/python dlapps/export/mediapipe_tool.py write < request.json
    .venv-mediapipe/bin/python dlapps/export/mediapipe_tool.py classify < request.json
    .venv-mediapipe/bin/python dlapps/export/mediapipe_tool.py detect < request.json

`write` takes `{"jobs": [{"input", "output", "kind", "labels", "options"}]}`
and writes each `input` .tflite file with metadata to `output`, using
MediaPipe's own metadata writers; one function per task kind (`KINDS`).
`classify` runs .tflite files through MediaPipe's ImageClassifier or
AudioClassifier and writes its score for every class of every input, so
callers can compare them with the LiteRT interpreter's.

Normalisation: every dlapps model normalises inside its graph, so an image
input takes raw 0..255 pixels and its metadata says mean 0, std 1 (the
identity) whatever the tensor type: MediaPipe must not normalise again.
"""

import json
import sys

import numpy as np


def _labels(labels):
    from mediapipe.tasks.python.metadata.metadata_writers import metadata_writer

    return metadata_writer.Labels().add(list(labels))


def _normalisation(options):
    """Mean and std MediaPipe applies, `(pixel - mean) / std`; identity by default."""
    return list(options.get("norm_mean", [0.0])), list(options.get("norm_std", [1.0]))


def image_classifier(model, labels, options):
    """ImageClassifier: one image input (1xHxWx3), one probabilities output with labels."""
    from mediapipe.tasks.python.metadata.metadata_writers import image_classifier as writer

    mean, std = _normalisation(options)
    return writer.MetadataWriter.create(model, mean, std, _labels(labels)).populate()[0]


def audio_classifier(model, labels, options):
    """AudioClassifier: one float32 waveform input, one probabilities output with labels.

    MediaPipe's writers have no audio classifier (TFLite Support's had), so
    the input's `AudioProperties` (sample rate, channels) are added as a
    `TensorMd` of MediaPipe's own metadata schema to its generic writer.
    """
    from mediapipe.tasks.metadata import metadata_schema_py_generated as schema
    from mediapipe.tasks.python.metadata.metadata_writers import metadata_info, metadata_writer

    class InputAudioTensorMd(metadata_info.TensorMd):
        def __init__(self, sample_rate, channels):
            super().__init__("audio_clip", "Input audio clip to be classified.")
            self.sample_rate, self.channels = sample_rate, channels

        def create_metadata(self):
            tensor = super().create_metadata()
            properties = schema.AudioPropertiesT()
            properties.sampleRate = self.sample_rate
            properties.channels = self.channels
            tensor.content = schema.ContentT()
            tensor.content.contentPropertiesType = schema.ContentProperties.AudioProperties
            tensor.content.contentProperties = properties
            return tensor

    writer = metadata_writer.MetadataWriter.create(model)
    writer.add_general_info("AudioClassifier", options.get("description", "Classify audio clips."))
    writer._input_mds.append(  # noqa: SLF001 - the writer's own list of input metadata
        InputAudioTensorMd(int(options["sample_rate"]), int(options.get("channels", 1)))
    )
    writer.add_classification_output(_labels(labels))
    return writer.populate()[0]


def object_detector(model, labels, options):
    """ObjectDetector: a model with NMS in the graph and the four outputs MediaPipe reads.

    The outputs, in this order: locations `[1, N, 4]` (ymin, xmin, ymax,
    xmax, fractions of the input), categories `[1, N]`, scores `[1, N]`,
    number of detections `[1]`, as TFLite's DETECTION_POSTPROCESS op gives
    them. The writer pairs this metadata with the outputs in ascending
    tensor index, and MediaPipe reads the outputs by position: the exporter
    puts both in this order (`tflite.order_outputs`), since the converter
    does not keep a signature dict's order.
    """
    from mediapipe.tasks.python.metadata.metadata_writers import object_detector as writer

    mean, std = _normalisation(options)
    created = writer.MetadataWriter.create_for_models_with_nms(model, mean, std, _labels(labels))
    return created.populate()[0]


def image_embedder(model, labels, options):
    """ImageEmbedder: one image input, one embedding output (labels are not used)."""
    from mediapipe.tasks.python.metadata.metadata_writers import metadata_writer

    mean, std = _normalisation(options)
    writer = metadata_writer.MetadataWriter.create(model)
    writer.add_general_info("ImageEmbedder", options.get("description", "Embed images."))
    writer.add_image_input(mean, std)
    writer.add_feature_output(name="embedding", description="Image embedding.")
    return writer.populate()[0]


KINDS = {
    "image_classifier": image_classifier,
    "audio_classifier": audio_classifier,
    "object_detector": object_detector,
    "image_embedder": image_embedder,
}


def write(request):
    for job in request["jobs"]:
        with open(job["input"], "rb") as file:
            model = bytearray(file.read())
        content = KINDS[job["kind"]](model, job.get("labels", []), job.get("options", {}))
        with open(job["output"], "wb") as file:
            file.write(content)
    return {"written": [job["output"] for job in request["jobs"]]}


def classify(request):
    """Scores of every class for every input, through MediaPipe Tasks' classifier APIs.

    `request`: `kind` ("image_classifier" or "audio_classifier"), `inputs`
    (a .npy file of uint8 RGB images `[n, H, W, 3]` or float32 waveforms
    `[n, samples]`), `sample_rate` (audio), and `models`/`outputs`: lists of
    .tflite files and the .npy files their `[n, classes]` scores go to.
    Returns each model's labels as MediaPipe reports them.
    """
    inputs = np.load(request["inputs"])
    labels = []
    for model, output in zip(request["models"], request["outputs"], strict=True):
        run = _classifier(request["kind"], model, request.get("sample_rate"))
        scores, names = None, {}
        for row, array in enumerate(inputs):
            categories = run(array)
            if scores is None:
                scores = np.zeros((len(inputs), len(categories)), np.float32)
            for category in categories:
                scores[row, category.index] = category.score
                names[category.index] = category.category_name
        np.save(output, scores)
        labels.append([names[i] for i in sorted(names)])
    return {"labels": labels}


def _classifier(kind, model, sample_rate):
    """`callable(one input) -> categories` of MediaPipe's ImageClassifier or AudioClassifier."""
    from mediapipe.tasks.python.core.base_options import BaseOptions

    base = BaseOptions(model_asset_path=model)
    if kind == "image_classifier":
        import mediapipe as mp
        from mediapipe.tasks.python.vision import image_classifier as api

        task = api.ImageClassifier.create_from_options(
            api.ImageClassifierOptions(base_options=base, max_results=-1)
        )

        def run(array):
            image = mp.Image(image_format=mp.ImageFormat.SRGB, data=np.ascontiguousarray(array))
            return task.classify(image).classifications[0].categories

        return run
    from mediapipe.tasks.python.audio import audio_classifier as api
    from mediapipe.tasks.python.components.containers import audio_data

    task = api.AudioClassifier.create_from_options(
        api.AudioClassifierOptions(base_options=base, max_results=-1)
    )

    def run(array):
        clip = audio_data.AudioData.create_from_array(array.astype(np.float32), sample_rate)
        return task.classify(clip)[0].classifications[0].categories

    return run


def embed(request):
    """Embeddings of every input through MediaPipe Tasks' ImageEmbedder.

    `request`: `inputs` (a .npy file of uint8 RGB images `[n, H, W, 3]`),
    `models`/`outputs`: .tflite files and the .npy files their `[n, dims]`
    embeddings go to (as the model gives them: no L2 normalisation added).
    """
    import mediapipe as mp
    from mediapipe.tasks.python.core.base_options import BaseOptions
    from mediapipe.tasks.python.vision import image_embedder as api

    inputs = np.load(request["inputs"])
    for model, output in zip(request["models"], request["outputs"], strict=True):
        options = api.ImageEmbedderOptions(base_options=BaseOptions(model_asset_path=model))
        task = api.ImageEmbedder.create_from_options(options)
        vectors = []
        for array in inputs:
            image = mp.Image(image_format=mp.ImageFormat.SRGB, data=np.ascontiguousarray(array))
            vectors.append(task.embed(image).embeddings[0].embedding)
        np.save(output, np.asarray(vectors, np.float32))
    return {"models": len(request["models"])}


def detect(request):
    """Detections of every input through MediaPipe Tasks' ObjectDetector.

    `request`: `inputs` (a .npy file of uint8 RGB images `[n, H, W, 3]`),
    `models`, and `score_threshold` (MediaPipe's own, on top of the
    model's). Returns per model and image the detections MediaPipe gives:
    `[{"box": [xmin, ymin, width, height] (whole pixels), "label",
    "score"}]`, best first; MediaPipe merges detections of the same box into
    one with several categories, and each category is an entry here.
    """
    import mediapipe as mp
    from mediapipe.tasks.python.core.base_options import BaseOptions
    from mediapipe.tasks.python.vision import object_detector as api

    inputs = np.load(request["inputs"])
    results = []
    for model in request["models"]:
        options = api.ObjectDetectorOptions(
            base_options=BaseOptions(model_asset_path=model),
            score_threshold=float(request.get("score_threshold", 0.0)),
        )
        task = api.ObjectDetector.create_from_options(options)
        per_image = []
        for array in inputs:
            image = mp.Image(image_format=mp.ImageFormat.SRGB, data=np.ascontiguousarray(array))
            found = []
            for detection in task.detect(image).detections:
                # Detections with the same box (of different classes) come merged into one
                # with a category each: one entry per category here, as the model gave them.
                box = detection.bounding_box
                for category in detection.categories:
                    found.append(
                        {
                            "box": [box.origin_x, box.origin_y, box.width, box.height],
                            "label": category.category_name,
                            "score": category.score,
                        }
                    )
            found.sort(key=lambda entry: -entry["score"])  # stable: ties keep their order
            per_image.append(found)
        results.append(per_image)
    return {"detections": results}


def main():
    command = sys.argv[1]
    request = json.load(sys.stdin)
    commands = {"write": write, "classify": classify, "embed": embed, "detect": detect}
    result = commands[command](request)
    print(json.dumps(result))


if __name__ == "__main__":
    main()
