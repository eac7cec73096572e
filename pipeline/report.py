"""What a stage prints about the videos it could not use: how many, the first few with their
reasons, and where the full list is, so that failures show where people look."""
from __future__ import annotations

from pathlib import Path
from typing import Iterable

FIRST = 5


def problem_report(title: str, problems: Iterable[tuple[str, str]], full_list: Path | str, first: int = FIRST) -> str:
    """'' when there are no problems; else '<title>: N videos' then the first few
    'video_id: reason' lines and the path of the table that lists them all."""
    problems = list(problems)
    if not problems:
        return ""
    lines = [f"{title}: {len(problems)} video{'s' if len(problems) != 1 else ''}"
             + (f" (first {first})" if len(problems) > first else "")]
    lines += [f"  {video_id}: {reason}" for video_id, reason in problems[:first]]
    lines.append(f"  all of them: {full_list}")
    return "\n".join(lines)
