"""Runtime drop events: trace readers and the streaming aggregate."""
