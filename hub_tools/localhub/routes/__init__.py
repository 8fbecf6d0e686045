"""Route handlers of the local hub, one module per API family. ``app.py`` dispatches to them."""
