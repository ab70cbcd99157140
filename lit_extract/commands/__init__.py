"""Commands: ``python -m lit_extract <command>``, the top stage; nothing imports it.

- :mod:`~lit_extract.commands.cli`: the command line (``index``, ``predict``, ``inspect``,
  ``probe``, ``compare``, ``export``, ``demo``); heavy imports only when a command runs.
- :mod:`~lit_extract.commands.lightning_cli`: the LightningCLI programs of ``predict`` and ``probe``.
- :mod:`~lit_extract.commands.preflight`: cheap checks of a run's inputs before anything slow.
- :mod:`~lit_extract.commands.progress`: progress bars on a terminal, plain lines in a log.
- :mod:`~lit_extract.commands.demo`: the offline demo's synthetic videos.
- :mod:`~lit_extract.commands.parser_cache`: what a LightningCLI program accepts, kept on disk, so
  ``--help`` and a mistyped option are answered without importing torch.
- :mod:`~lit_extract.commands.help_format`: ``--help`` as plain text.
- :mod:`~lit_extract.commands.torch_pair`: do the installed torch and torchvision belong together.
"""
