"""estgeo — insecurity layers for EST (Effektiv samordning för trygghet), over OGC APIs."""

__version__ = "0.1.0"
