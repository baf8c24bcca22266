"""Install ``hetsyn_plugins_autoload.pth`` into site-packages (wheel and editable installs).

Everything else is configured in pyproject.toml. The .pth file makes ``snntorch.HetSynLeaky``
and ``spikingjelly.activation_based.neuron.HetSynNode`` available without
``import hetsyn_plugins``; see ``hetsyn_plugins/_import_hook.py``.
"""

from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py

PTH = "hetsyn_plugins_autoload.pth"


class build_py_with_pth(build_py):
    """Put the .pth file at the root of the wheel (of the editable wheel in editable mode)."""

    def run(self):
        super().run()
        if self.editable_mode:  # build_lib is discarded: write into the editable wheel itself
            target_dir = self.get_finalized_command("install").install_lib
        else:
            target_dir = self.build_lib
        self.copy_file(PTH, str(Path(target_dir, PTH)), preserve_mode=0)


setup(cmdclass={"build_py": build_py_with_pth})
