"""The demo Space's app (a Gradio app that runs as a Space, where hubtool is not installed). A package only so
that it ships inside the hubtool wheel; its modules import each other as top-level modules (app.py puts this
folder on sys.path), as they do in a deployed Space."""
