"""A contact sheet: the same rendered scenes through every sensor model, one row per preset."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

from toppose.atomic import atomic_path
from toppose.model_spec import InputEncoding
from toppose.preprocess import encode_depth
from toppose.synth.scenes import SceneOptions, random_scene
from toppose.synth.sensors import SENSORS

_ENCODING = InputEncoding(kind="depth", near_m=0.5, far_m=4.5, colormap="jet")


def sheet_image(frames: int, seed: int, clutter: int, tilt: tuple[float, float]) -> np.ndarray:
    """-> (rows * 240 + labels, frames * 320, 3) uint8 BGR: rows = SENSORS, columns = scenes.

    Each column is one scene (same seed) so the rows differ only by the sensor model; invalid
    readings are black.
    """
    rows = []
    for sensor in SENSORS:
        tiles = []
        for i in range(frames):
            view = "side" if i == frames - 1 and frames > 2 else "top"
            options = SceneOptions(sensor=sensor, clutter=clutter, height=(2.4, 3.5), tilt=tilt if view == "top" else (0, 0),
                                   fov=(58.0, 90.0))
            frame = random_scene(np.random.default_rng([seed, i]), view, (1, 4), options=options)
            tile = encode_depth(frame.depth, _ENCODING)
            cv2.rectangle(tile, (0, 0), (tile.shape[1] - 1, tile.shape[0] - 1), (255, 255, 255), 1)
            tiles.append(tile)
        row = np.concatenate(tiles, axis=1)
        label = np.zeros((22, row.shape[1], 3), np.uint8)
        cv2.putText(label, f"--sensor {sensor}", (6, 16), cv2.FONT_HERSHEY_SIMPLEX, 0.5, (255, 255, 255), 1)
        rows += [label, row]
    return np.concatenate(rows, axis=0)


def write_sheet(out: str | Path, frames: int = 4, seed: int = 0, clutter: int = 2,
                tilt: tuple[float, float] = (0.0, 20.0)) -> Path:
    """Write the contact sheet PNG atomically; returns its path."""
    out = Path(out)
    image = sheet_image(frames, seed, clutter, tilt)
    with atomic_path(out) as tmp:
        ok, png = cv2.imencode(".png", image)
        Path(tmp).write_bytes(png.tobytes())
    return out
