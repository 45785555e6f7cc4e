"""Jobs: the one way long work runs (threads in the API process, or `vigil worker`)."""
