"""Request and response models at the HTTP edge, one module per route area; they are also the
OpenAPI document's schemas.

A function imports only its own area's models (and `common`), so that its cold start builds no
other route's models: this package's __init__ imports nothing.
"""
