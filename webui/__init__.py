"""The edgemask web annotator: a Flask app (create_app) over a folder of images and a SQLite store."""


def create_app(config=None):
    """See edgemask.webui.app.create_app."""
    from edgemask.webui.app import create_app as _create_app

    return _create_app(config)


__all__ = ["create_app"]
