"""Depth replays with known intrinsics: an ITOP ``*_depth_map.h5`` file and the synthetic demo scene."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Iterator

import numpy as np

from toppose.camera import ITOP
from toppose.runtime.sources import Captured, Source, SourceError


class ItopSource(Source):
    """Replay an ITOP ``*_depth_map.h5`` (float16 metres) frame by frame, with ITOP's intrinsics."""

    modality = "depth"

    def __init__(self, path: str) -> None:
        import h5py

        self.path, self.label = Path(path), path
        self.intrinsics = ITOP
        try:
            self.file = h5py.File(self.path, "r")
        except (OSError, FileNotFoundError):
            raise SourceError(f"{path}: not a readable HDF5 file") from None
        if "data" not in self.file:
            self.file.close()
            raise SourceError(f"{path}: no 'data' dataset (not an ITOP depth_map file)")
        self.ids = self.file["id"][:] if "id" in self.file else None

    def __iter__(self) -> Iterator[Captured]:
        t0 = time.perf_counter()
        for i in range(self.file["data"].shape[0]):
            t = time.perf_counter()
            frame = self.file["data"][i].astype(np.float32)
            name = str(i) if self.ids is None else \
                self.ids[i].decode(errors="replace") if isinstance(self.ids[i], bytes) else str(self.ids[i])
            yield Captured(i, t - t0, frame, 1000 * (time.perf_counter() - t), name, intrinsics=self.intrinsics)

    def close(self) -> None:
        self.file.close()


class DemoSource(Source):
    """The synthetic ceiling scene (depth) as a camera would deliver it."""

    modality, label = "depth", "the demo scene"

    def __init__(self, seed: int = 0, people: int = 3, fps: float = 15.0) -> None:
        from toppose.synth.player import ScenePlayer

        self.player = ScenePlayer(seed, people, fps=fps)
        self.fps = fps
        self.intrinsics = ITOP  # the renderer's camera

    def __iter__(self) -> Iterator[Captured]:
        frames = self.player.scenes()
        i = 0
        while True:
            t = time.perf_counter()
            frame = next(frames)  # rendering is this source's capture time
            yield Captured(i, i / self.fps, frame.depth, 1000 * (time.perf_counter() - t), intrinsics=self.intrinsics)
            i += 1
