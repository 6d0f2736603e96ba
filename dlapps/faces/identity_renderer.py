"""Generated identities: a fixed face per person, drawn with per-photo nuisance.

Each identity is a parameter vector (head shape, eye, brow, nose and mouth
geometry and spacing, skin, hair and eye tone, hair style, beard, glasses);
each photo of it adds nuisance the embedding must ignore: pose (a yaw-like
shift of the features, in-plane rotation, translation, scale, crop offset),
lighting (direction and strength of a gradient, brightness), expression
(smile, open mouth, eye openness, brow raise), background (colour, gradient,
clutter), blur and sensor noise. Two photos of one person differ more in
pixels than two people photographed alike, so pixel distance and eigenfaces
fail where a learned embedding succeeds.
"""

import numpy as np
from PIL import Image, ImageDraw, ImageFilter

SUPERSAMPLE = 2


class IdentityRenderer:
    """Draws photos of generated people.

    Args:
        image_size: side of the square RGB photos, in pixels. Defaults to 64.

    Example:

    >>> renderer = IdentityRenderer(image_size=64)
    >>> rng = np.random.default_rng(0)
    >>> person = renderer.sample_identity(rng)
    >>> renderer.render(person, rng).shape
    (64, 64, 3)
    """

    def __init__(self, image_size=64):
        self.image_size = int(image_size)

    def sample_identity(self, rng):
        """A dict of one person's fixed face parameters."""
        skin = np.array([rng.uniform(90, 240), 0, 0])
        skin[1] = skin[0] * rng.uniform(0.68, 0.86)
        skin[2] = skin[1] * rng.uniform(0.7, 0.92)
        return {
            "head_width": rng.uniform(0.50, 0.68),
            "head_height": rng.uniform(0.66, 0.84),
            "jaw": rng.uniform(0.0, 1.0),  # 0 round chin .. 1 square jaw
            "skin": skin,
            "hair": rng.uniform(10, 230) * np.array([1.0, rng.uniform(0.6, 0.95), 0.55]),
            "hair_style": int(rng.integers(0, 4)),  # bald, short, fringe, long
            "hair_line": rng.uniform(0.10, 0.30),
            "eye_spacing": rng.uniform(0.17, 0.27),
            "eye_height": rng.uniform(0.40, 0.50),
            "eye_size": rng.uniform(0.045, 0.085),
            "eye_color": rng.uniform(20, 160, size=3),
            "brow_gap": rng.uniform(0.05, 0.10),
            "brow_tilt": rng.uniform(-0.04, 0.04),
            "brow_thickness": rng.uniform(0.012, 0.035),
            "nose_length": rng.uniform(0.09, 0.18),
            "nose_width": rng.uniform(0.05, 0.12),
            "mouth_height": rng.uniform(0.70, 0.80),
            "mouth_width": rng.uniform(0.13, 0.26),
            "lip_thickness": rng.uniform(0.015, 0.04),
            "lip_color": skin * rng.uniform(0.55, 0.8),
            "beard": float(rng.random() < 0.25),
            "glasses": float(rng.random() < 0.2),
            "mole": (rng.uniform(-0.2, 0.2), rng.uniform(0.5, 0.75))
            if rng.random() < 0.3
            else None,
        }

    def render(self, person, rng):
        """One uint8 photo `(image_size, image_size, 3)` of `person` under random nuisance."""
        size = self.image_size * SUPERSAMPLE
        canvas = Image.new("RGB", (size, size), _background(rng, size))
        draw = ImageDraw.Draw(canvas)
        for _ in range(int(rng.integers(0, 4))):  # clutter behind the head
            box = sorted(rng.uniform(0, size, 2)), sorted(rng.uniform(0, size, 2))
            draw.rectangle(
                (box[0][0], box[1][0], box[0][1], box[1][1]),
                fill=tuple(int(c) for c in rng.uniform(0, 255, 3)),
            )
        self._draw_face(draw, person, rng, size)
        # Pose and framing: rotation, scale, translation (crop offset).
        angle = rng.uniform(-15, 15)
        scale = rng.uniform(0.85, 1.15)
        shift = rng.uniform(-0.08, 0.08, 2) * size
        canvas = canvas.rotate(
            angle,
            resample=Image.Resampling.BILINEAR,
            translate=tuple(shift),
            fillcolor=(90, 90, 90),
        )
        crop = (1 - 1 / scale) * size / 2
        canvas = canvas.crop((crop, crop, size - crop, size - crop))
        canvas = canvas.resize((self.image_size,) * 2, Image.Resampling.BILINEAR)
        blur = rng.uniform(0, 1.0)
        if blur > 0.3:
            canvas = canvas.filter(ImageFilter.GaussianBlur(blur))
        image = np.asarray(canvas, np.float32)
        # Lighting: a directional gradient of random strength, and overall exposure.
        direction = rng.uniform(0, 2 * np.pi)
        grid = np.linspace(-1, 1, self.image_size)
        ramp = np.cos(direction) * grid[None, :] + np.sin(direction) * grid[:, None]
        light = rng.uniform(0.7, 1.3) * (1 + rng.uniform(0, 0.45) * ramp)
        tint = rng.uniform(0.85, 1.15, 3)
        image = image * light[..., None] * tint
        image += rng.normal(0, rng.uniform(0, 10), image.shape)
        return np.clip(np.round(image), 0, 255).astype(np.uint8)

    def _draw_face(self, draw, p, rng, size):
        def color(values):
            return tuple(int(np.clip(v, 0, 255)) for v in values)

        center_x = size / 2
        # Yaw: the features slide sideways inside the head outline.
        yaw = rng.uniform(-0.06, 0.06) * size
        width, height = p["head_width"] * size, p["head_height"] * size
        top = (size - height) / 2
        skin, hair = color(p["skin"]), color(p["hair"])
        if p["hair_style"] == 3:  # long hair behind the head
            draw.ellipse(
                (
                    center_x - width * 0.62,
                    top - height * 0.06,
                    center_x + width * 0.62,
                    top + height * 0.95,
                ),
                fill=hair,
            )
        # Head: an ellipse, squared off at the jaw by a trapezoid.
        draw.ellipse((center_x - width / 2, top, center_x + width / 2, top + height), fill=skin)
        jaw = p["jaw"] * width * 0.42
        draw.polygon(
            [
                (center_x - width / 2, top + height * 0.5),
                (center_x + width / 2, top + height * 0.5),
                (center_x + jaw, top + height * 0.97),
                (center_x - jaw, top + height * 0.97),
            ],
            fill=skin,
        )
        ear = width * 0.09
        for side in (-1, 1):
            ear_x = center_x + side * width / 2 - yaw * 0.3
            draw.ellipse(
                (ear_x - ear, top + height * 0.4, ear_x + ear, top + height * 0.58), fill=skin
            )
        if p["hair_style"] in (1, 2, 3):
            line = top + height * p["hair_line"]
            draw.chord(
                (center_x - width / 2, top - height * 0.05, center_x + width / 2, line * 2 - top),
                180,
                360,
                fill=hair,
            )
            if p["hair_style"] == 2:  # fringe
                draw.rectangle(
                    (
                        center_x - width * 0.35,
                        line - 2,
                        center_x + width * 0.2,
                        line + height * 0.07,
                    ),
                    fill=hair,
                )
        if p["beard"]:
            draw.chord(
                (
                    center_x - width * 0.45,
                    top + height * 0.45,
                    center_x + width * 0.45,
                    top + height,
                ),
                0,
                180,
                fill=hair,
            )
        face_x = center_x + yaw
        # Expression: eye openness, brow raise, smile and open mouth vary per photo.
        openness = rng.uniform(0.35, 1.0)
        raise_brow = rng.uniform(-0.015, 0.02) * size
        eye_y = top + height * p["eye_height"]
        eye_r = p["eye_size"] * size
        for side in (-1, 1):
            eye_x = face_x + side * p["eye_spacing"] * size * (1 - side * yaw / size)
            draw.ellipse(
                (
                    eye_x - eye_r,
                    eye_y - eye_r * openness * 0.6,
                    eye_x + eye_r,
                    eye_y + eye_r * openness * 0.6,
                ),
                fill=(245, 245, 245),
            )
            iris = eye_r * 0.5
            draw.ellipse(
                (eye_x - iris, eye_y - iris * openness, eye_x + iris, eye_y + iris * openness),
                fill=color(p["eye_color"]),
            )
            brow_y = eye_y - p["brow_gap"] * size - eye_r - raise_brow
            tilt = side * p["brow_tilt"] * size
            draw.line(
                (eye_x - eye_r * 1.2, brow_y + tilt, eye_x + eye_r * 1.2, brow_y - tilt),
                fill=color(p["hair"] * 0.8),
                width=max(1, int(p["brow_thickness"] * size)),
            )
            if p["glasses"]:
                draw.ellipse(
                    (
                        eye_x - eye_r * 1.6,
                        eye_y - eye_r * 1.3,
                        eye_x + eye_r * 1.6,
                        eye_y + eye_r * 1.3,
                    ),
                    outline=(30, 30, 30),
                    width=max(1, size // 64),
                )
        nose_top = eye_y + eye_r * 0.5
        nose_bottom = nose_top + p["nose_length"] * size
        nose_half = p["nose_width"] * size / 2
        draw.polygon(
            [
                (face_x + yaw * 0.3, nose_top),
                (face_x - nose_half + yaw * 0.5, nose_bottom),
                (face_x + nose_half + yaw * 0.5, nose_bottom),
            ],
            fill=color(p["skin"] * 0.8),
        )
        mouth_y = top + height * p["mouth_height"]
        mouth_half = p["mouth_width"] * size / 2 * rng.uniform(0.9, 1.15)
        smile = rng.uniform(-0.3, 1.0) * p["lip_thickness"] * size * 1.5
        opened = rng.uniform(0, 1) ** 2 * p["lip_thickness"] * size * 2
        thickness = p["lip_thickness"] * size
        draw.polygon(
            [
                (face_x - mouth_half, mouth_y - smile),
                (face_x, mouth_y - thickness / 2),
                (face_x + mouth_half, mouth_y - smile),
                (face_x, mouth_y + thickness / 2 + opened),
            ],
            fill=color(p["lip_color"]),
        )
        if p["mole"] is not None:
            mole_x = face_x + p["mole"][0] * size
            mole_y = top + height * p["mole"][1]
            radius = size * 0.012
            draw.ellipse(
                (mole_x - radius, mole_y - radius, mole_x + radius, mole_y + radius),
                fill=(60, 40, 30),
            )


def _background(rng, size):
    return tuple(int(c) for c in rng.uniform(0, 255, 3))
