"""Every module here that defines `bp` is registered by create_app; add a resource by adding one."""
