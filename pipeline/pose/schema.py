"""The pose Parquet format: one row per (video, frame, person) with the person score and
(x, y, confidence) per keypoint, coordinates normalised to the frame (x / width, y / height).
Missing joints have NaN coordinates and confidence 0. File metadata names the estimator and its
version, the keypoint layout and the storage dtype."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from pipeline.keypoints import KEYPOINT_NAMES, LAYOUT_NAME, NUM_KEYPOINTS

COORD_COLUMNS = ("x", "y", "conf")


def pose_schema(dtype: str) -> pa.Schema:
    value = pa.float16() if dtype == "float16" else pa.float32()
    joint = pa.list_(value, NUM_KEYPOINTS)
    return pa.schema([("video_id", pa.string()), ("frame", pa.int32()), ("person", pa.int8()),
                      ("score", pa.float32()), ("x", joint), ("y", joint), ("conf", joint)])


def file_metadata(estimator: str, version: str, dtype: str, max_persons: int) -> dict:
    return {"estimator": estimator, "estimator_version": version, "layout": LAYOUT_NAME,
            "keypoint_names": list(KEYPOINT_NAMES), "dtype": dtype, "max_persons": max_persons,
            "coordinates": "normalised: x / frame width, y / frame height"}


def rank_by_video(keypoints: np.ndarray, scores: np.ndarray, max_persons: int):
    """Ground truth knows who is who: keep each person in one slot for the whole video, slots ordered
    by the person's mean score over the frames where they appear. [F, P, 14, 3], [F, P] -> [F, N, ...]."""
    present = (keypoints[..., 2] > 0).any(-1)
    mean = np.where(present, scores, 0).sum(0) / np.maximum(present.sum(0), 1)
    order = [p for p in np.argsort(-mean, kind="stable") if present[:, p].any()][:max_persons]
    return keypoints[:, order], scores[:, order]


def rank_and_limit(keypoints: np.ndarray, scores: np.ndarray, max_persons: int):
    """Keep the ``max_persons`` best-scoring people that have at least one joint, best first."""
    present = (keypoints[..., 2] > 0).any(-1)
    order = [i for i in np.argsort(-scores, kind="stable") if present[i]][:max_persons]
    return keypoints[order], scores[order]


def normalise_keypoints(keypoints: np.ndarray, width: int, height: int) -> np.ndarray:
    """Pixel keypoints [..., 14, 3] -> x / width, y / height; missing joints NaN with confidence 0."""
    kp = np.asarray(keypoints, np.float32).reshape(-1, NUM_KEYPOINTS, 3) / np.array([width, height, 1.0], np.float32)
    missing = ~(kp[..., 2] > 0)
    kp[..., :2][missing] = np.nan
    kp[..., 2][missing] = 0.0
    return kp.reshape(np.shape(keypoints))


def build_table(video_id: str, frames: list[tuple[int, np.ndarray, np.ndarray]], *, width: int,
                height: int, dtype: str) -> pa.Table:
    """``frames``: (frame index, keypoints [P, 14, 3] in pixels, scores [P]) per frame with people,
    already ranked and limited; a person's position in the list is its slot. People with no joint
    get no row (their slot stays empty)."""
    rows_frame, rows_person, rows_score, coords = [], [], [], []
    for frame, kps, scores in frames:
        for person in np.nonzero((np.asarray(kps)[..., 2] > 0).any(-1))[0]:
            rows_frame.append(frame)
            rows_person.append(person)
            rows_score.append(scores[person])
            coords.append(kps[person])
    kp = normalise_keypoints(np.asarray(coords, np.float32).reshape(-1, NUM_KEYPOINTS, 3), width, height)
    schema = pose_schema(dtype)
    np_dtype = np.float16 if dtype == "float16" else np.float32
    columns = {
        "video_id": pa.array([video_id] * len(kp), pa.string()),
        "frame": pa.array(rows_frame, pa.int32()),
        "person": pa.array(rows_person, pa.int8()),
        "score": pa.array(np.asarray(rows_score, np.float32), pa.float32()),
    }
    for i, name in enumerate(COORD_COLUMNS):
        flat = pa.array(kp[..., i].astype(np_dtype).ravel(), schema.field(name).type.value_type,
                        from_pandas=False)
        columns[name] = pa.FixedSizeListArray.from_arrays(flat, NUM_KEYPOINTS)
    return pa.table(columns, schema=schema)


def read_poses(path: Path, video_ids=None) -> pa.Table:
    table = pq.read_table(path)
    if video_ids is not None:
        table = table.filter(pc.is_in(table["video_id"], pa.array(list(video_ids), pa.string())))
    return table


def to_dense(table: pa.Table, num_frames: dict[str, int], max_persons: int) -> dict[str, np.ndarray]:
    """Per video: float32 [F, N, 14, 3] (x, y, conf) normalised; absent people all-NaN with conf 0."""
    out = {vid: np.full((max(n, 1), max_persons, NUM_KEYPOINTS, 3), np.nan, np.float32)
           for vid, n in num_frames.items()}
    for arr in out.values():
        arr[..., 2] = 0.0
    if table.num_rows == 0:
        return out
    vids = table["video_id"].to_numpy(zero_copy_only=False)
    frames = table["frame"].to_numpy()
    persons = table["person"].to_numpy()
    coords = np.stack([table[c].combine_chunks().flatten().to_numpy(zero_copy_only=False)
                       .astype(np.float32).reshape(-1, NUM_KEYPOINTS) for c in COORD_COLUMNS], -1)
    for vid, rows in pd.Series(vids).groupby(vids).indices.items():
        if vid not in out:
            continue
        arr = out[vid]
        ok = (frames[rows] < arr.shape[0]) & (persons[rows] < max_persons)
        rows = rows[ok]
        arr[frames[rows], persons[rows]] = coords[rows]
    return out
