import keras
import numpy as np
import pytest

from dlapps import vision


def test_classifier_takes_uint8_images_of_any_size():
    model = vision.build_image_classifier(5, image_size=(16, 16), channels=3)
    for height, width in ((8, 8), (40, 23)):
        images = np.random.default_rng(0).integers(0, 256, (2, height, width, 3), "uint8")
        probabilities = model.predict(images, verbose=0)
        assert probabilities.shape == (2, 5)
        np.testing.assert_allclose(probabilities.sum(axis=-1), 1.0, rtol=1e-5)


def test_preprocessor_resizes_and_scales_to_unit_range():
    layer = vision.ImagePreprocessor(image_size=(4, 6))
    output = layer(np.full((1, 8, 12, 1), 255, "uint8"))
    assert output.shape == (1, 4, 6, 1)
    np.testing.assert_allclose(output, 1.0, rtol=1e-6)


def test_augmentation_is_active_only_in_training():
    model = vision.build_image_classifier(3, image_size=(16, 16), channels=1, dropout=0.0)
    images = np.random.default_rng(1).integers(0, 256, (4, 16, 16, 1), "uint8")
    inference = [model(images, training=False).numpy() for _ in range(2)]
    np.testing.assert_array_equal(inference[0], inference[1])
    augmented = model.get_layer("augmentation")(images.astype("float32"), training=True)
    assert not np.allclose(augmented, images)


def test_photos_are_augmented_with_mirrored_edges_and_drawings_with_black_ones():
    def augmentation(backbone, **kwargs):
        model = vision.build_image_classifier(
            3, image_size=(32, 32), channels=3, backbone=backbone, **kwargs
        )
        return model.get_layer("augmentation")

    drawings = augmentation("small_cnn")
    photos = augmentation("efficientnet_lite0", weights="none")
    # A grey image: any black pixel after augmentation is fill, not the image.
    grey = np.full((8, 32, 32, 3), 128.0, "float32")
    keras.utils.set_random_seed(0)
    assert drawings(grey, training=True).numpy().min() < 1.0  # black corners
    np.testing.assert_allclose(photos(grey, training=True), 128.0, atol=1e-3)
    (zoom,) = [layer for layer in photos.layers if isinstance(layer, keras.layers.RandomZoom)]
    assert zoom.height_factor == 0.3  # subjects at any scale


def test_mobilenet_v2_width_multiplier_scales_the_network():
    def size(width):
        return vision.build_image_classifier(
            10,
            image_size=(32, 32),
            channels=3,
            backbone="mobilenet_v2",
            width_multiplier=width,
        ).count_params()

    assert size(0.35) < size(1.0) / 2


def test_saved_classifier_reloads_in_safe_mode(tmp_path):
    model = vision.build_image_classifier(3, image_size=(16, 16), channels=1)
    images = np.random.default_rng(2).integers(0, 256, (2, 10, 10, 1), "uint8")
    model.save(tmp_path / "model.keras")
    restored = keras.saving.load_model(tmp_path / "model.keras", safe_mode=True)
    np.testing.assert_allclose(
        restored.predict(images, verbose=0), model.predict(images, verbose=0), atol=1e-6
    )


def test_unknown_backbone_lists_the_valid_ones():
    with pytest.raises(ValueError, match="choose one of small_cnn, mobilenet_v2"):
        vision.build_image_classifier(3, (16, 16), 1, backbone="resnet")
