"""``python -m toppose.runtime.cli_main``: toppose-stream without the console script."""

from toppose.runtime.cli import stream_app

if __name__ == "__main__":
    stream_app()
