"""One onnxruntime session wrapper: providers chosen once (logged), metadata read back.

Imports numpy and onnxruntime only: the edge path never imports torch.
"""

from __future__ import annotations

import ctypes
import functools
import logging
import sys
from pathlib import Path

import numpy as np
import onnxruntime as ort

from toppose.errors import ToposeError
from toppose.model_spec import MetadataError, ModelMetadata, metadata_from_props

log = logging.getLogger("toppose.runtime")
DEVICES = ("auto", "cpu", "cuda", "tensorrt")


class ModelError(ToposeError):
    """A model file that cannot be used; the message names the file and the problem."""


def provider_plan(device: str, available: list[str], fixed_size: bool, cache_dir: str | None,
                  fp16: bool) -> list:
    """Ordered (provider, options) list for ``device``, limited to what onnxruntime offers."""
    if device not in DEVICES:
        raise ValueError(f"unknown device {device!r}; expected one of {DEVICES}")
    cuda = ("CUDAExecutionProvider", {"cudnn_conv_algo_search": "EXHAUSTIVE" if fixed_size else "HEURISTIC",
                                      "do_copy_in_default_stream": "1"})
    trt_opts = {"trt_fp16_enable": "1" if fp16 else "0"}
    if cache_dir:
        trt_opts.update({"trt_engine_cache_enable": "1", "trt_engine_cache_path": cache_dir})
    trt = ("TensorrtExecutionProvider", trt_opts)
    wanted = {"cpu": [], "cuda": [cuda], "tensorrt": [trt, cuda], "auto": [trt, cuda] if cache_dir else [cuda]}[device]
    return [p for p in wanted if p[0] in available] + [("CPUExecutionProvider", {})]


@functools.lru_cache(maxsize=None)
def provider_library_error(provider: str) -> str | None:
    """Why ``provider``'s onnxruntime library cannot load here (e.g. CUDA libraries absent), or None.

    Probed with the dynamic loader, so onnxruntime never prints its own red error for it.
    """
    name = {"CUDAExecutionProvider": "cuda", "TensorrtExecutionProvider": "tensorrt"}.get(provider)
    if name is None:
        return None
    lib = Path(ort.__file__).parent / "capi" / (f"onnxruntime_providers_{name}.dll" if sys.platform == "win32"
                                                else f"libonnxruntime_providers_{name}.so")
    if not lib.is_file():
        return None  # an unusual build: let onnxruntime decide
    try:
        ctypes.CDLL(str(lib))
    except OSError as e:
        return str(e).strip()[:200]
    return None


def usable_providers() -> tuple[list[str], dict[str, str]]:
    """onnxruntime's available providers whose libraries load, and why each of the others does not."""
    why = {p: e for p in ort.get_available_providers() if (e := provider_library_error(p))}
    return [p for p in ort.get_available_providers() if p not in why], why


class PoseSession:
    """An exported toppose model: ``infer_maps(x)`` -> (paf, heatmaps) as float32 arrays."""

    def __init__(self, path: str | Path, device: str = "auto", cache_dir: str | None = None,
                 fp16: bool = False, threads: int = 0) -> None:
        self.path, self.threads = Path(path), threads
        if not self.path.is_file():
            raise ModelError(f"{self.path}: no such file")
        options = ort.SessionOptions()
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        if threads:
            options.intra_op_num_threads = threads
        # idle onnxruntime workers that spin take the cores the stream's capture and decode threads need
        # (measured: twice the CPU per frame, and fewer frames per second on a busy 2-core box; a paced
        # 30 FPS source: 2 ms sooner p50 on a quiet box for 47 ms of CPU per frame instead of 24, and
        # beside a busy process p50 33 ms instead of 20, the worst frame 81 ms instead of 32)
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        self.session = self._open(options, [("CPUExecutionProvider", {})])
        self.metadata = self._metadata(self.session)
        fixed = self.metadata.input_hw is not None
        usable, unusable = usable_providers()
        plan = provider_plan(device, usable, fixed, cache_dir, fp16)
        if len(plan) > 1:  # a GPU provider is usable: open the model once more with it
            self.session = self._open(options, plan)
        self.providers = self.session.get_providers()
        wanted = [p for p, _ in provider_plan(device, ort.get_available_providers(), fixed, cache_dir, fp16)]
        self._log_choice(device, [p for p, _ in plan], {p: e for p, e in unusable.items() if p in wanted})
        self.spec = self.metadata.spec
        self.decoder_config = self.metadata.decoder
        self.input_name = self.session.get_inputs()[0].name
        self.output_names = [o.name for o in self.session.get_outputs()]
        self.input_hw = self.metadata.input_hw
        self._check_outputs()
        self._binding = self.session.io_binding() if self.providers[0] != "CPUExecutionProvider" else None

    def _log_choice(self, device: str, requested: list[str], unusable: dict[str, str]) -> None:
        """One info line: the provider that runs and, on CPU, why; a warning when a GPU was asked for."""
        on_cpu = self.providers[0] == "CPUExecutionProvider"
        why = "; ".join(f"{p} unusable: {e}" for p, e in unusable.items()) or \
            f"no GPU provider in onnxruntime {ort.__version__}'s {', '.join(ort.get_available_providers())}"
        if device not in ("cpu", "auto") and on_cpu:
            log.warning("device %s requested but no GPU execution provider is usable: running on "
                        "CPUExecutionProvider", device)
        reason = f" ({why})" if on_cpu and device != "cpu" else f" (requested {', '.join(requested)})"
        log.info("onnxruntime %s: running %s on %s%s", ort.__version__, self.path.name, self.providers[0], reason)

    def _open(self, options: ort.SessionOptions, plan: list) -> ort.InferenceSession:
        try:
            return ort.InferenceSession(str(self.path), options, providers=[p for p, _ in plan],
                                        provider_options=[o for _, o in plan])
        except Exception as e:  # onnxruntime raises its own exception types for corrupt files
            first = str(e).strip().splitlines()[0][:160] if str(e).strip() else type(e).__name__
            raise ModelError(f"{self.path}: not a loadable ONNX model ({first})") from None

    def _metadata(self, session: ort.InferenceSession) -> ModelMetadata:
        try:
            return metadata_from_props(session.get_modelmeta().custom_metadata_map)
        except MetadataError as e:
            raise ModelError(f"{self.path}: {e}") from None

    def _check_outputs(self) -> None:
        """The graph's (paf, heatmaps) channels must be what the recorded skeleton decodes."""
        outputs = self.session.get_outputs()
        skeleton = self.spec.skeleton
        expected = {"paf": skeleton.num_pafs, "heatmaps": skeleton.num_heatmaps}
        if len(outputs) != 2:
            raise ModelError(f"{self.path}: {len(outputs)} outputs, expected 2 (paf, heatmaps)")
        for out, (label, channels) in zip(outputs, expected.items()):
            got = out.shape[1] if len(out.shape) == 4 else None
            if isinstance(got, int) and got != channels:
                raise ModelError(f"{self.path}: output {out.name} has {got} channels but the {skeleton.name} "
                                 f"skeleton in its metadata needs {channels} {label} channels")

    @property
    def device(self) -> str:
        return self.providers[0]

    def with_threads(self, threads: int) -> "PoseSession":
        """This CPU model opened again with ``threads`` onnxruntime threads per call (self if it has them)."""
        return self if threads == self.threads else PoseSession(self.path, "cpu", threads=threads)

    def infer_maps(self, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """x (N, 3, H, W) float32 -> paf (N, 2K, H/8, W/8), heatmaps (N, J+1, H/8, W/8)."""
        x = np.ascontiguousarray(x, np.float32)
        if self._binding is None:
            paf, heat = self.session.run(self.output_names, {self.input_name: x})
            return paf, heat
        b = self._binding
        b.bind_cpu_input(self.input_name, x)
        for name in self.output_names:
            b.bind_output(name)
        self.session.run_with_iobinding(b)
        paf, heat = b.copy_outputs_to_cpu()
        b.clear_binding_inputs()
        b.clear_binding_outputs()
        return paf, heat
