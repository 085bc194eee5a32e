"""myapp against its peers: the same endpoints in six stacks, in-process and over HTTP."""
