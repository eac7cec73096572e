"""Test doubles: stand-ins for the two compiled dependencies that mmpose 1.3.2 imports but that
the models under test (RTMPose, HRNet, RTMO, RTMDet on CPU) never run. Used by
tests/test_pose_mmpose.py and by ``bench.pose_speed --random-weights``.

requirements-mmpose.txt installs mmcv-lite, which has mmcv's Python code but not its compiled
extension ``mmcv._ext``: every ``mmcv.ops`` module asks it for its C++/CUDA functions at import,
and mmpose and mmdet import ``mmcv.ops`` at import. The real one (full mmcv) builds from source for
about half an hour here, so the tests put a fake ``mmcv._ext`` in ``sys.modules``: any attribute
is a function that raises when called, except ``nms``, a plain torch greedy NMS (the only compiled op
that mmdet's detectors call on this path). Its spec has no loader, so mmengine still reports full
mmcv as absent.

mmpose also imports ``torchvision.transforms.ToPILImage`` at import (for its SimCC heat-map
visualisation, unused here); PyPI's torchvision does not load beside the CPU torch we pin, so an
empty ``torchvision`` with that one name stands in.

Each stand-in is added only when the real module is missing, and ``remove`` takes out exactly what
``install`` added. The pipeline never uses this: its backend imports the real packages and says
what to install when they are missing (pipeline.pose.mmpose_backend.import_mmpose).
"""
from __future__ import annotations

import importlib.machinery
import importlib.util
import sys
import types


def _missing(name: str) -> bool:
    try:
        return importlib.util.find_spec(name) is None
    except (ImportError, ValueError):
        return True


def _nms(boxes, scores, iou_threshold: float, offset: int = 0):
    """Greedy NMS with mmcv's signature: indices of the kept boxes, best score first."""
    import torch
    order = torch.argsort(scores, descending=True)
    x0, y0, x1, y1 = boxes.unbind(1)
    areas = (x1 - x0 + offset) * (y1 - y0 + offset)
    keep = []
    while order.numel():
        i, rest = order[0], order[1:]
        keep.append(i)
        w = (torch.minimum(x1[i], x1[rest]) - torch.maximum(x0[i], x0[rest]) + offset).clamp(min=0)
        h = (torch.minimum(y1[i], y1[rest]) - torch.maximum(y0[i], y0[rest]) + offset).clamp(min=0)
        inter = w * h
        order = rest[inter / (areas[i] + areas[rest] - inter) <= iou_threshold]
    return torch.stack(keep) if keep else torch.zeros(0, dtype=torch.long)


def _fake_mmcv_ext() -> types.ModuleType:
    ext = types.ModuleType("mmcv._ext")
    ext.__spec__ = importlib.machinery.ModuleSpec("mmcv._ext", None)
    ext.nms = _nms

    def missing_op(name: str):
        if name.startswith("__"):
            raise AttributeError(name)

        def op(*args, **kwargs):
            raise RuntimeError(f"mmcv compiled op {name!r} is a test stand-in (bench/fakes/mmpose_stubs.py): "
                               "install full mmcv to run it")
        return op
    ext.__getattr__ = missing_op
    return ext


def _fake_torchvision() -> dict[str, types.ModuleType]:
    torchvision = types.ModuleType("torchvision")
    transforms = types.ModuleType("torchvision.transforms")

    class ToPILImage:
        def __init__(self, *args, **kwargs):
            raise RuntimeError("torchvision is a test stand-in (bench/fakes/mmpose_stubs.py)")

    transforms.ToPILImage = ToPILImage
    torchvision.transforms = transforms
    return {"torchvision": torchvision, "torchvision.transforms": transforms}


def install() -> list[str]:
    """Add the stand-ins that are needed; the names added."""
    added: dict[str, types.ModuleType] = {}
    if not _missing("mmcv") and _missing("mmcv._ext"):
        added["mmcv._ext"] = _fake_mmcv_ext()
    if _missing("torchvision"):
        added.update(_fake_torchvision())
    sys.modules.update(added)
    return list(added)


def remove(names: list[str]) -> None:
    for name in names:
        sys.modules.pop(name, None)
