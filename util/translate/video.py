"""Translating a video file or a folder of frames frame by frame, with optional per-clip statistics.

Video files are decoded and encoded with PyAV (`pip install av`, see requirements-extra.txt); folders of
frames need nothing extra. With --video_stats clip, one first pass over all frames collects the
normalisation statistics of the whole clip (`util.translate.norm_stats`) and the second pass normalises every
frame with them, so brightness and colour do not jump from frame to frame. The flicker measure, written
to flicker.json, is the mean absolute change between consecutive frames (in [0, 1] units) of the
output and of the input, and their ratio.
"""
import contextlib
import json
import os
from fractions import Fraction
from typing import Dict, Iterator, Optional, Tuple

import numpy as np
import torch

from util.image_io import find_images, read_image, save_tensor_image, tensor_to_pil
from util.errors import UserError
from util.output_files import output_file, write_text
from util.translate.norm_stats import StatsRecorder, frozen_stats
from util.translate.tiling import translate_any_size

VIDEO_EXTENSIONS = (".mp4", ".mov", ".avi", ".mkv", ".webm", ".m4v")
VIDEO_STATS = ("frame", "clip")


def is_video_run(dataroot: str, video_stats: Optional[str]) -> bool:
    """Whether test.py should translate `dataroot` as a clip: a video file, or `video_stats` (--video_stats) given."""
    return video_stats is not None or dataroot.lower().endswith(VIDEO_EXTENSIONS)


def _import_av():
    try:
        import av
    except ImportError:
        raise UserError("reading and writing video files needs PyAV: pip install av "
                        "(or pass a folder of frames as --dataroot)") from None
    return av


def _open_video(path: str):
    """Open the video file `path` for reading; raise `UserError` if it is empty, not a video or has no video stream."""
    av = _import_av()
    try:
        container = av.open(path)
    except (av.error.FFmpegError, OSError) as err:
        raise UserError(f"cannot decode video {path}: {err}; check the file or pass a folder of frames") from None
    if not container.streams.video:
        container.close()
        raise UserError(f"{path} holds no video stream (audio only?); pass a video file or a folder of frames")
    return container


def video_frames(path: str) -> Iterator[np.ndarray]:
    """Decode the video at `path` into (H, W, 3) uint8 RGB frames."""
    av = _import_av()
    with _open_video(path) as container:
        try:
            for frame in container.decode(video=0):
                yield frame.to_ndarray(format="rgb24")
        except (av.error.FFmpegError, IndexError) as err:
            raise UserError(f"cannot decode video {path}: {err}; check the file or pass a folder of frames") from None


def video_fps(path: str) -> Fraction:
    """The average frame rate of the video at `path`."""
    with _open_video(path) as container:
        return container.streams.video[0].average_rate or Fraction(25)


class VideoWriter:
    """Encodes (C, H, W) frames in [-1, 1] into an H.264 (or MPEG-4) file at `fps`; use as a context manager.

    The clip is encoded under a temporary name and renamed to `path` only when complete
    (`util.output_files.output_file`), so an interrupted run never replaces a finished clip.
    """

    def __init__(self, path: str, fps: Fraction):
        av = _import_av()
        self.output = output_file(path)
        self.container = av.open(self.output.__enter__(), mode="w")
        codec = "libx264" if "libx264" in av.codecs_available else "mpeg4"
        self.stream = self.container.add_stream(codec, rate=Fraction(fps).limit_denominator(100000))
        self.stream.pix_fmt = "yuv420p"
        self.frame_type = av.VideoFrame
        self.sized = False

    def write(self, image: torch.Tensor) -> None:
        """Append one (C, H, W) frame; the first frame fixes the size (even sizes, as yuv420p needs)."""
        array = np.asarray(tensor_to_pil(image).convert("RGB"))
        if not self.sized:
            self.sized = True
            self.stream.width, self.stream.height = array.shape[1] // 2 * 2, array.shape[0] // 2 * 2
        array = np.ascontiguousarray(array[:self.stream.height, :self.stream.width])
        for packet in self.stream.encode(self.frame_type.from_ndarray(array, format="rgb24")):
            self.container.mux(packet)

    def __enter__(self) -> "VideoWriter":
        return self

    def __exit__(self, *exc) -> None:
        try:
            if exc[0] is None:
                for packet in self.stream.encode():
                    self.container.mux(packet)
            self.container.close()
        except BaseException as err:
            if not self.output.__exit__(type(err), err, err.__traceback__):
                raise
        else:
            self.output.__exit__(*exc)


def clip_frames(source: str, gray: bool) -> Iterator[Tuple[str, torch.Tensor]]:
    """(name, (C, H, W) tensor in [-1, 1]) for each frame of the video file or frame folder `source`, in order.

    C is 1 when `gray`, else 3.
    """
    if os.path.isdir(source):
        for path in find_images(source):
            yield os.path.relpath(path, source), read_image(path).unit(1 if gray else 3) * 2 - 1
        return
    for index, array in enumerate(video_frames(source)):
        yield f"frame_{index:06d}.png", _to_tensor(array.mean(2).round().astype(np.uint8) if gray else array)


def _to_tensor(array: np.ndarray) -> torch.Tensor:
    """(H, W) or (H, W, C) uint8 -> (C, H, W) float in [-1, 1]."""
    tensor = torch.from_numpy(np.ascontiguousarray(array)).float() / 127.5 - 1
    return tensor[None] if tensor.dim() == 2 else tensor.permute(2, 0, 1)


class FlickerMeter:
    """Mean absolute change between consecutive frames, for inputs and outputs (in [0, 1] units)."""

    def __init__(self):
        self.previous = None
        self.sums = [0.0, 0.0]
        self.pairs = 0

    def add(self, frame: torch.Tensor, output: torch.Tensor) -> None:
        """Add one (C, H, W) input frame and its (C', H, W) output, both in [-1, 1]."""
        current = (frame.float().cpu(), output.float().cpu())
        if self.previous is not None and self.previous[0].shape == current[0].shape:
            for i in range(2):
                self.sums[i] += (current[i] - self.previous[i]).abs().mean().item() / 2
            self.pairs += 1
        self.previous = current

    def result(self) -> dict:
        """{'input_flicker', 'output_flicker', 'ratio', 'pairs'}."""
        pairs = max(self.pairs, 1)
        inp, out = self.sums[0] / pairs, self.sums[1] / pairs
        return {"input_flicker": inp, "output_flicker": out, "ratio": out / inp if inp > 0 else None,
                "pairs": self.pairs}


@torch.no_grad()
def translate_clip(generator: torch.nn.Module, source: str, out_dir: str, device: torch.device,
                   gray: bool = False,                  # the generator takes one channel (--input_nc 1)
                   video_stats: Optional[str] = None,   # --video_stats: frame | clip (None: frame)
                   fps: float = 25.0,                   # --fps: frame rate of a frame folder (recorded in flicker.json)
                   size_options: Optional[Dict] = None) -> dict:  # keyword arguments of `translate_any_size`
    """Translate the clip `source` (a video file or a folder of frames) into `out_dir`: <stem>.mp4 for a
    video file, images/ for a frame folder.

    Returns the flicker measure (also written to out_dir/flicker.json).
    """
    size_options = size_options or {}
    stats = None
    if video_stats == "clip":
        with StatsRecorder(generator) as recorder:
            for _, frame in clip_frames(source, gray):
                translate_any_size(generator, frame[None].to(device), **size_options)
            stats = recorder.stats()
    is_file = os.path.isfile(source)
    flicker = FlickerMeter()
    stem = os.path.splitext(os.path.basename(source.rstrip(os.sep)))[0]
    target = os.path.join(out_dir, stem + ".mp4") if is_file else os.path.join(out_dir, "images")
    rate = video_fps(source) if is_file else Fraction(fps).limit_denominator(100000)
    writer = VideoWriter(target, rate) if is_file else None
    count = 0
    with frozen_stats(generator, stats), writer or contextlib.nullcontext():
        for name, frame in clip_frames(source, gray):
            output = translate_any_size(generator, frame[None].to(device), **size_options)[0]
            flicker.add(frame, output)
            if writer is not None:
                writer.write(output)
            else:
                save_tensor_image(output, os.path.join(target, name))
            count += 1
        if count == 0:   # inside the block: an empty clip must not replace a finished one
            raise UserError(f"--dataroot {source} has no frames to translate")
    result = dict(flicker.result(), frames=count, fps=float(rate), video_stats=video_stats or "frame", output=target)
    write_text(os.path.join(out_dir, "flicker.json"), json.dumps(result, indent=2))
    print(f"translated {count} frames into {target}; flicker (mean abs change between frames) "
          f"input {result['input_flicker']:.4f}, output {result['output_flicker']:.4f}")
    return result
