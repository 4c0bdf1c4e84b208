"""Image work behind the page's tools: thumbnails, the colour wand (flood fill) and
mask -> polygons."""
