"""The publishing layer: the course as a site and as slides, and re-executing the notebooks."""
