"""The largest image sgaplus reads or decodes unless told otherwise (``--max-pixels``).

A file is small but the image it announces need not be: a 2 KB ``.sgp`` file can
announce 8192 x 8192 pixels, a 132-byte PNG 9000 x 9000. Both are refused, before
anything of that size is allocated, above one limit in line with Pillow's
decompression-bomb check (``Image.MAX_IMAGE_PIXELS``, 89,478,485 pixels): 8192² =
67,108,864 pixels, the size sgaplus has always refused inputs above. Decoding a file of
that size took 3.5 min and 7.7 GB on the 2-core development machine (issue 16), so a
larger limit must be asked for.
"""

from __future__ import annotations

#: Default largest width x height read from an image file or decoded from a ``.sgp`` file.
MAX_PIXELS = 8192 * 8192


def too_many_pixels(width: int, height: int, limit: int) -> str | None:
    """None within ``limit``, else the end of a one-line error naming the flag that raises it."""
    if width * height <= limit:
        return None
    return (f"{width}x{height} = {width * height:,} pixels, more than the limit of {limit:,} "
            f"(--max-pixels raises it)")
