"""Entry point of the one-file executable (PyInstaller): the same CLI as `aigw`."""

import multiprocessing

from aigw.cli import main

if __name__ == "__main__":
    multiprocessing.freeze_support()  # workers and bench servers are forked/spawned children
    main()
