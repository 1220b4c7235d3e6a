"""A local Google Cloud emulator for phiguard's collector tests (127.0.0.1 only)."""

from emulator.server import Emulator, Fault

__all__ = ["Emulator", "Fault"]
