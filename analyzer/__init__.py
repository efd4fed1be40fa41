"""skbdrop: where the Linux kernel drops packets, and why."""
__version__ = "0.1.0"
