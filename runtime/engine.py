"""The two onnxruntime sessions of a model folder, with the embedding kept on the device on CUDA."""

import os
import threading
from dataclasses import dataclass
from typing import Optional, Tuple

import numpy as np

from edgemask.runtime import providers as prov
from edgemask.runtime.model_folder import ModelFolder

DECODER_INPUTS = ("image_embeddings", "point_coords", "point_labels", "mask_input", "has_mask_input")
DECODER_OUTPUTS = ("iou_predictions", "low_res_masks")


# encoders with more weight than this skip onnxruntime's NCHWc layout pass, which would keep a
# second copy of their convolution weights (memory over ~10% speed); EDGEMASK_ORT_OPT=all|extended overrides
LAYOUT_PASS_MAX_BYTES = 256 * 2**20


def _session(path, devices, **kwargs):
    """prov.create_session, with onnxruntime's failure to load a file as one sentence naming it."""
    try:
        return prov.create_session(path, devices, **kwargs)
    except Exception as exc:  # noqa: BLE001 - onnxruntime raises its own classes for a damaged file
        if kwargs.get("session_factory") is not None or type(exc).__module__.split(".")[0] != "onnxruntime":
            raise
        reason = (str(exc).strip().splitlines() or [type(exc).__name__])[0][:200]
        raise ValueError(f"onnxruntime cannot load {path.name} in {str(path.parent)!r} ({reason}): the file is "
                         "damaged or not an ONNX model (copy the folder again or re-export the model).") from None


def encoder_optimization(model: ModelFolder) -> str:
    forced = os.environ.get("EDGEMASK_ORT_OPT")
    if forced in ("all", "extended"):
        return forced
    size = sum(p.stat().st_size for p in model.path.glob(model.encoder_path.name + "*"))
    return "all" if size <= LAYOUT_PASS_MAX_BYTES else "extended"


def warn_saturating_int8(model: ModelFolder) -> None:
    """One warning line for an int8 folder exported with full 8-bit weights (before model.json
    recorded "quantization") on an x86 CPU without VNNI, where its MatMuls saturate."""
    from edgemask.runtime.cpu_features import detect

    cpu = detect()
    if model.precision == "int8" and "quantization" not in model.config and cpu.arch == "x86_64" and not cpu.int8_dot:
        prov.log.warning(
            "%s is an int8 export with 8-bit weights, which give wrong masks on this CPU (no VNNI); "
            "re-export it with this edgemask (`edgemask export %s --precision int8`) or use the fp32 folder.",
            model.path, model.name)


@dataclass
class Embedding:
    """An image embedding: the host array (what caches store) and, on CUDA, the same tensor in GPU memory."""

    host: np.ndarray
    device_value: object = None  # onnxruntime.OrtValue on the session's device, or None on CPU
    per_image: Optional[dict] = None  # split decoders: the click-independent decoder tensors


class Engine:
    """Encoder and decoder sessions on one device.

    device: "auto" | "tensorrt" | "cuda" | "coreml" | "directml" | "cpu". With
    TensorRT the encoder runs on TensorRT (fp16, engines cached on disk) and the
    decoder, whose prompt count varies, on CUDA. On CUDA devices the embedding
    stays in GPU memory between clicks (IO binding). `io_binding=True` forces the
    IO-binding path on any device (used by tests on CPU).
    """

    def __init__(self, model: ModelFolder, device: str = "auto", settings: Optional[prov.DeviceSettings] = None,
                 threads: Optional[int] = None, io_binding: Optional[bool] = None, spinning: bool = True,
                 session_factory=None):
        self.model = model
        settings = settings or prov.DeviceSettings()
        devices = prov.candidate_devices(device, prov.available_providers())
        model_bytes = sum(p.stat().st_size for p in model.path.iterdir() if p.is_file())
        common = dict(settings=settings, threads=threads, spinning=spinning, model_bytes=model_bytes,
                      session_factory=session_factory)
        # the encoder's operators are long: idle threads spinning between them only steal the CPU
        # from the browser and the web server, so the encoder never spins
        self.encoder, self.encoder_device = _session(
            model.encoder_path, devices, mem_pattern=False, optimization=encoder_optimization(model),
            **dict(common, spinning=False))
        dec_devices = devices[devices.index(self.encoder_device):]
        if dec_devices[0] == "tensorrt":
            dec_devices = dec_devices[1:]
        self.decoder, self.decoder_device = _session(model.decoder_path, dec_devices, **common)
        self.device = self.encoder_device
        if self.decoder_device == "cpu":
            warn_saturating_int8(model)
        self._check_io()
        on_cuda = self.decoder_device in prov.CUDA_DEVICES
        self.io_binding = on_cuda if io_binding is None else bool(io_binding)
        self.io_device = "cuda" if on_cuda else "cpu"
        self.device_id = settings.device_id if on_cuda else 0
        self._lock = threading.Lock()  # IO-binding objects are not thread-safe
        self.split = None
        if model.split_click_path is not None and not self.io_binding:
            dev = [self.decoder_device]
            image_part, _ = _session(model.split_image_path, dev, **common)
            click_part, _ = _session(model.split_click_path, dev, **common)
            self.split = (image_part, click_part)

    def _check_io(self):
        enc_in = [i.name for i in self.encoder.get_inputs()]
        enc_out = [o.name for o in self.encoder.get_outputs()]
        if self.model.encoder_input not in enc_in or self.model.encoder_output not in enc_out:
            raise ValueError(
                f"encoder.onnx has inputs {enc_in} and outputs {enc_out}, not the "
                f"{self.model.encoder_input!r} -> {self.model.encoder_output!r} that model.json names."
            )
        dec_in = {i.name for i in self.decoder.get_inputs()}
        dec_out = {o.name for o in self.decoder.get_outputs()}
        missing = [n for n in DECODER_INPUTS if n not in dec_in] + [n for n in DECODER_OUTPUTS if n not in dec_out]
        if missing:
            raise ValueError(f"decoder.onnx lacks {', '.join(missing)} (see docs/model-format.md); re-export the model.")

    @property
    def providers(self) -> Tuple[list, list]:
        return self.encoder.get_providers(), self.decoder.get_providers()

    def encode(self, image_input: np.ndarray) -> Embedding:
        """Runs the encoder on its float32 [S, S, 3] input."""
        if not self.io_binding:
            (emb,) = self.encoder.run([self.model.encoder_output], {self.model.encoder_input: image_input})
            return Embedding(np.ascontiguousarray(emb, dtype=np.float32))
        import onnxruntime as ort

        with self._lock:
            binding = self.encoder.io_binding()
            binding.bind_cpu_input(self.model.encoder_input, image_input)
            out = ort.OrtValue.ortvalue_from_shape_and_type(
                list(self.model.embedding_shape), np.float32, self.io_device, self.device_id)
            binding.bind_ortvalue_output(self.model.encoder_output, out)
            self.encoder.run_with_iobinding(binding)
        return Embedding(out.numpy(), out)

    def to_device(self, host: np.ndarray) -> Embedding:
        """Wraps a host embedding (e.g. from a cache); on CUDA copies it to GPU memory once."""
        host = np.ascontiguousarray(host, dtype=np.float32)
        if not self.io_binding:
            return Embedding(host)
        import onnxruntime as ort

        return Embedding(host, ort.OrtValue.ortvalue_from_numpy(host, self.io_device, self.device_id))

    def prepare(self, embedding: Embedding) -> None:
        """Runs the per-image part of a split decoder once, so that clicks only run the per-click part."""
        if self.split is not None and embedding.per_image is None:
            names = list(self.model.split_tensors)
            embedding.per_image = dict(zip(names, self.split[0].run(names, {"image_embeddings": embedding.host})))

    def decode(self, embedding: Embedding, coords: np.ndarray, labels: np.ndarray,
               mask_input: Optional[np.ndarray] = None) -> Tuple[np.ndarray, np.ndarray]:
        """Runs the decoder: coords [1,N,2] / labels [1,N] in the prompt frame -> (iou [4], low-res logits [4,256,256])."""
        size = self.model.low_res_size
        if mask_input is None:
            if getattr(self, "_no_mask", None) is None:
                self._no_mask = (np.zeros((1, 1, size, size), np.float32), np.zeros(1, np.float32))
            mask, has_mask = self._no_mask
        else:
            mask = np.ascontiguousarray(mask_input, dtype=np.float32).reshape(1, 1, size, size)
            has_mask = np.ones(1, np.float32)
        feeds = {
            "point_coords": np.ascontiguousarray(coords, dtype=np.float32),
            "point_labels": np.ascontiguousarray(labels, dtype=np.float32),
            "mask_input": mask,
            "has_mask_input": has_mask,
        }
        if self.split is not None and mask_input is None:
            self.prepare(embedding)
            click_feeds = dict(embedding.per_image, point_coords=feeds["point_coords"],
                               point_labels=feeds["point_labels"])
            iou, low = self.split[1].run(list(DECODER_OUTPUTS), click_feeds)
            return iou[0], low[0]
        if not self.io_binding:
            feeds["image_embeddings"] = embedding.host
            iou, low = self.decoder.run(list(DECODER_OUTPUTS), feeds)
            return iou[0], low[0]
        with self._lock:
            binding = self.decoder.io_binding()
            binding.bind_ortvalue_input("image_embeddings", embedding.device_value)
            for name, value in feeds.items():
                binding.bind_cpu_input(name, value)
            for name in DECODER_OUTPUTS:
                binding.bind_output(name, "cpu")
            self.decoder.run_with_iobinding(binding)
            iou, low = (value.numpy() for value in binding.get_outputs())
        return iou[0], low[0]
