"""Signal charts: PNG rendering, a process pool to keep it off the event loop, a disk cache."""
