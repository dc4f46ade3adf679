"""Reading images and turning them into normalised tensors.

- ``load_image(item)``: a path, a PIL image or a numpy array → an RGB PIL image.
- ``ImageTransform``: resize shorter side → center crop → [0, 1] → (x - mean) / std,
  as a frozen, JSON-serialisable dataclass (it is saved beside a model).
- ``list_image_folder(root)``: ``root/<class>/*.jpg`` → (files, labels, class names).

Example:
    >>> from transferkit.data.images import ImageTransform, load_image
    >>> import numpy as np
    >>> img = load_image(np.zeros((300, 400, 3), dtype=np.uint8))
    >>> ImageTransform.imagenet()([img]).shape
    torch.Size([1, 3, 224, 224])
"""

from __future__ import annotations

import os
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from transferkit.errors import DataError, FileMissingError, InputError

if TYPE_CHECKING:  # heavy imports stay inside functions
    import torch
    from PIL import Image

IMAGE_EXTENSIONS: tuple[str, ...] = (
    ".jpg",
    ".jpeg",
    ".png",
    ".bmp",
    ".gif",
    ".webp",
    ".tif",
    ".tiff",
)

# torchvision's ImageNet statistics (RGB, on [0, 1] pixels).
IMAGENET_MEAN: tuple[float, float, float] = (0.485, 0.456, 0.406)
IMAGENET_STD: tuple[float, float, float] = (0.229, 0.224, 0.225)
# EfficientNet-Lite (TF reference) feeds (x * 255 - 127) / 128, i.e. on [0, 1] pixels
# mean = 127 / 255 and std = 128 / 255 for every channel.
LITE_MEAN: tuple[float, float, float] = (127 / 255,) * 3
LITE_STD: tuple[float, float, float] = (128 / 255,) * 3


# Decoded-pixel cap (~6300×6300 RGB = 120 MB): a 164 KB PNG can claim 13,000×13,000
# pixels and decode to 1.6 GB. Bigger images are refused before decoding, not resized.
MAX_IMAGE_PIXELS = 40_000_000


def check_pixels(width: int, height: int, what: str) -> None:
    """InputError when a `width`×`height` image is over `MAX_IMAGE_PIXELS`."""
    if width * height > MAX_IMAGE_PIXELS:
        raise InputError(
            f"{what} is {width}×{height} pixels; the limit is {MAX_IMAGE_PIXELS:,} pixels "
            "(decoding it would take gigabytes). Resize it first."
        )


def load_image(item: Any) -> Image.Image:
    """Return ``item`` as an RGB PIL image.

    Accepts a path (``str`` or ``os.PathLike``), a PIL image, or a numpy array of shape
    (H, W), (H, W, 1), (H, W, 3) or (H, W, 4), either uint8 or float in [0, 1]. Alpha is
    dropped; an animated image (GIF, WebP) gives its first frame.

    Raises InputError for None, an empty string/array, an unsupported type or array
    shape, or a file that is not a readable image; FileMissingError for a path that
    does not exist.
    """
    from PIL import Image

    if item is None:
        raise InputError("image is None; pass a file path, a PIL.Image or a numpy array")
    if isinstance(item, Image.Image):
        return _to_rgb(item)
    if isinstance(item, (str, os.PathLike)):
        return _open_path(Path(item), raw=item)
    import numpy as np

    if isinstance(item, np.ndarray):
        return _from_array(item)
    raise InputError(
        f"cannot read an image from a {type(item).__name__}; pass a file path (str or "
        "Path), a PIL.Image, or a numpy array (H, W[, 3|4])"
    )


def _open_path(path: Path, raw: Any) -> Image.Image:
    from PIL import Image, UnidentifiedImageError

    if str(raw).strip() == "":
        raise InputError("image path is empty; pass the path of an image file")
    if not path.exists():
        raise FileMissingError(f"image file not found: {path}")
    if path.is_dir():
        raise InputError(f"{path} is a folder, not an image file; pass one image file")
    # No warnings.catch_warnings() here: it swaps the process-wide filters, and batches
    # decode in several threads at once. check_pixels refuses an image over our limit
    # (below Pillow's warning size) before a byte is decoded; Pillow's warning, raised
    # where warnings are errors, is refused the same way.
    try:
        with Image.open(path) as img:
            check_pixels(img.width, img.height, str(path))  # before decoding a byte
            img.seek(0)  # first frame of an animated GIF/WebP
            img.load()  # read now: a truncated file fails here, not later
            return _to_rgb(img)
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        raise InputError(
            f"{path} is too large to decode ({exc}); the limit is {MAX_IMAGE_PIXELS:,} "
            "pixels. Resize it first."
        ) from None
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as exc:
        raise InputError(
            f"{path} is not a readable image ({type(exc).__name__}: {exc}); expected a "
            f"file in one of {', '.join(IMAGE_EXTENSIONS)} with image content. Remove or "
            "replace the file."
        ) from exc


def _to_rgb(img: Image.Image) -> Image.Image:
    if img.mode == "RGB":
        return img.copy()
    if img.mode in ("RGBA", "LA") or (img.mode == "P" and "transparency" in img.info):
        # Composite on white, not black: transparent regions then look like paper,
        # the usual background of cut-out product photos.
        from PIL import Image

        rgba = img.convert("RGBA")
        background = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        return Image.alpha_composite(background, rgba).convert("RGB")
    return img.convert("RGB")


def _from_array(arr: Any) -> Image.Image:
    import numpy as np
    from PIL import Image

    if arr.size == 0:
        raise InputError(f"image array is empty (shape {arr.shape}); pass an (H, W, 3) array")
    if arr.ndim == 3 and arr.shape[2] == 1:
        arr = arr[:, :, 0]
    if not (arr.ndim == 2 or (arr.ndim == 3 and arr.shape[2] in (3, 4))):
        raise InputError(
            f"image array has shape {arr.shape}; allowed shapes are (H, W), (H, W, 1), "
            "(H, W, 3) and (H, W, 4), channels last (transpose a (3, H, W) array first)"
        )
    if np.issubdtype(arr.dtype, np.floating):
        if not np.isfinite(arr).all():
            raise InputError("image array contains NaN or inf; pass finite values in [0, 1]")
        lo, hi = float(arr.min()), float(arr.max())
        if lo < 0.0 or hi > 1.0:
            raise InputError(
                f"float image array has values in [{lo:.3g}, {hi:.3g}]; float images must "
                "be in [0, 1] (divide uint8-range data by 255, or pass dtype uint8)"
            )
        arr = np.round(arr * 255.0).astype(np.uint8)
    elif arr.dtype == np.bool_:
        arr = arr.astype(np.uint8) * 255
    elif arr.dtype != np.uint8:
        raise InputError(
            f"image array has dtype {arr.dtype}; allowed are uint8 (0-255) and float (0-1)"
        )
    arr = np.ascontiguousarray(arr)
    if arr.ndim == 2:
        return Image.fromarray(arr, mode="L").convert("RGB")
    if arr.shape[2] == 4:
        return _to_rgb(Image.fromarray(arr, mode="RGBA"))
    return Image.fromarray(arr, mode="RGB")


@dataclass(frozen=True)
class ImageTransform:
    """Resize the shorter side to ``resize`` (bilinear, antialiased), center-crop
    ``crop`` x ``crop``, scale to [0, 1], normalise per channel ``(x - mean) / std``.

    Calling it on a list of PIL images returns a float32 tensor (B, 3, crop, crop).
    This is the standard ImageNet evaluation transform (torchvision ``Resize(256)`` +
    ``CenterCrop(224)``); it is data, saved with a model via ``to_dict()``.
    """

    resize: int
    crop: int
    mean: tuple[float, float, float]
    std: tuple[float, float, float]

    def __post_init__(self) -> None:
        if not isinstance(self.resize, int) or not isinstance(self.crop, int):
            raise InputError(
                f"resize and crop must be integers, got resize={self.resize!r}, crop={self.crop!r}"
            )
        if self.crop < 1 or self.resize < self.crop:
            raise InputError(
                f"need 1 <= crop <= resize, got resize={self.resize}, crop={self.crop}"
            )
        # JSON gives lists back; store tuples so the dataclass stays hashable/frozen.
        object.__setattr__(self, "mean", tuple(float(v) for v in self.mean))
        object.__setattr__(self, "std", tuple(float(v) for v in self.std))
        if len(self.mean) != 3 or len(self.std) != 3:
            raise InputError(
                f"mean and std need 3 values (R, G, B), got mean={self.mean}, std={self.std}"
            )
        if any(s <= 0 for s in self.std):
            raise InputError(f"std values must be > 0, got {self.std}")

    @classmethod
    def imagenet(cls, crop: int = 224) -> ImageTransform:
        """torchvision's ImageNet evaluation transform: resize 256, crop 224 (scaled
        with ``crop``: resize = round(crop / 0.875)), ImageNet mean/std."""
        return cls(round(crop / 0.875), crop, IMAGENET_MEAN, IMAGENET_STD)

    @classmethod
    def efficientnet_lite(cls, crop: int = 224) -> ImageTransform:
        """EfficientNet-Lite's input: resize round(crop / 0.875), crop, and
        ``(x * 255 - 127) / 128`` written as mean 127/255, std 128/255."""
        return cls(round(crop / 0.875), crop, LITE_MEAN, LITE_STD)

    def __call__(self, images: list[Image.Image]) -> torch.Tensor:
        import numpy as np
        import torch
        from PIL import Image

        if isinstance(images, Image.Image):
            raise InputError("ImageTransform takes a list of images; wrap one image in [img]")
        if len(images) == 0:
            raise InputError("ImageTransform got an empty list; pass at least one image")
        batch = np.empty((len(images), self.crop, self.crop, 3), dtype=np.float32)
        for i, img in enumerate(images):
            rgb = img if isinstance(img, Image.Image) and img.mode == "RGB" else load_image(img)
            batch[i] = self._resize_crop(rgb)
        x = torch.from_numpy(batch).permute(0, 3, 1, 2)  # (B, H, W, 3) → (B, 3, H, W)
        mean = torch.tensor(self.mean, dtype=torch.float32).view(1, 3, 1, 1)
        std = torch.tensor(self.std, dtype=torch.float32).view(1, 3, 1, 1)
        return ((x / 255.0 - mean) / std).contiguous()

    def _resize_crop(self, img: Image.Image) -> Any:
        import numpy as np
        from PIL import Image

        w, h = img.size
        # Shorter side → resize, keeping the aspect ratio (torchvision's int rounding).
        if w <= h:
            new_w, new_h = self.resize, max(1, int(self.resize * h / w))
        else:
            new_w, new_h = max(1, int(self.resize * w / h)), self.resize
        if (new_w, new_h) != (w, h):
            img = img.resize((new_w, new_h), Image.Resampling.BILINEAR)
        left = int(round((new_w - self.crop) / 2.0))
        top = int(round((new_h - self.crop) / 2.0))
        img = img.crop((left, top, left + self.crop, top + self.crop))
        return np.asarray(img, dtype=np.float32)  # (crop, crop, 3) in 0..255

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict; ``ImageTransform.from_dict(t.to_dict()) == t``."""
        d = asdict(self)
        d["mean"], d["std"] = list(self.mean), list(self.std)
        return d

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ImageTransform:
        """Inverse of ``to_dict``; unknown or missing keys raise InputError."""
        keys = {"resize", "crop", "mean", "std"}
        if set(data) != keys:
            raise InputError(
                f"ImageTransform config has keys {sorted(data)}; expected exactly {sorted(keys)}"
            )
        return cls(int(data["resize"]), int(data["crop"]), tuple(data["mean"]), tuple(data["std"]))


def list_image_folder(root: str | os.PathLike[str]) -> tuple[list[Path], list[str], list[str]]:
    """Read the layout ``root/<class name>/<image file>``.

    Returns ``(files, labels, class_names)``: files sorted by (class, file name), the
    class name of each file, and the sorted class names (subfolders that hold at least
    one image, at any depth below them: ``root/cats/indoor/1.jpg`` is a cat). Only
    extensions in ``IMAGE_EXTENSIONS`` (any case) count; hidden files
    are skipped. Files are listed, not opened: unreadable ones fail in ``load_image``.
    """
    root = Path(root)
    layout = f"expected {root}/<class name>/<image>.jpg, e.g. {root}/cats/001.jpg"
    if not root.exists():
        raise FileMissingError(f"image folder not found: {root}; {layout}")
    if not root.is_dir():
        raise DataError(f"{root} is a file, not a folder of class subfolders; {layout}")
    class_dirs = sorted(
        (d for d in root.iterdir() if d.is_dir() and not d.name.startswith(".")),
        key=lambda d: d.name,
    )
    if not class_dirs:
        raise DataError(f"no class subfolders in {root}; {layout}")
    files: list[Path] = []
    labels: list[str] = []
    class_names: list[str] = []
    for d in class_dirs:
        found = sorted(  # nested folders count too, as in `predict --file FOLDER`
            (
                f
                for f in d.rglob("*")
                if f.is_file()
                and not any(part.startswith(".") for part in f.relative_to(d).parts)
                and f.suffix.lower() in IMAGE_EXTENSIONS
            ),
            key=lambda f: str(f.relative_to(d)),
        )
        if found:
            class_names.append(d.name)
            files += found
            labels += [d.name] * len(found)
    if not files:
        raise DataError(
            f"no image files ({', '.join(IMAGE_EXTENSIONS)}) in the class subfolders of "
            f"{root} ({', '.join(d.name for d in class_dirs)}); {layout}"
        )
    return files, labels, class_names
