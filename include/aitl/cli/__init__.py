"""The ``aitl`` command line (``aitl.cli.main``) and its file-based analyses (``aitl.cli.analyze``)."""
