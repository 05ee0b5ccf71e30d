"""Fixtures of the kernel tests live in kernel_support (importable by name)."""

from kernel_support import kernel, kernel_python  # noqa: F401
