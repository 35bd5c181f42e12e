"""A real MJPEG stream on localhost (what a phone's webcam app or an IP camera sends), for the
stream-source tests: OpenCV reads it through FFmpeg exactly as it would a camera on the network."""
from __future__ import annotations

import http.server
import socketserver
import threading
import time
from collections.abc import Callable

import cv2
import numpy as np

STREAM_FPS = 60.0


class MjpegServer:
    """Serves ``frame(n)`` for n = 0, 1, ... as an MJPEG stream at STREAM_FPS until ``stop``.

    Every connection carries on from the server's current frame number.
    """

    def __init__(self, frame: Callable[[int], np.ndarray]) -> None:
        server = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def log_message(self, *args: object) -> None:
                pass

            def do_GET(self) -> None:  # noqa: N802 - http.server's name
                self.send_response(200)
                self.send_header("Content-Type", "multipart/x-mixed-replace; boundary=frame")
                self.end_headers()
                while not server.stopped.is_set():
                    _, jpeg = cv2.imencode(".jpg", frame(server.next_number))
                    server.next_number += 1
                    try:
                        self.wfile.write(b"--frame\r\nContent-Type: image/jpeg\r\nContent-Length: %d\r\n\r\n"
                                         % len(jpeg) + jpeg.tobytes() + b"\r\n")
                    except OSError:
                        return  # the reader went away
                    time.sleep(1 / STREAM_FPS)

        self.next_number = 0
        self.stopped = threading.Event()
        self._server = socketserver.ThreadingTCPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}/video"
        threading.Thread(target=self._server.serve_forever, daemon=True).start()

    def stop(self) -> None:
        """Stop streaming and listening: a reader's reconnects are refused from now on."""
        if self.stopped.is_set():
            return
        self.stopped.set()
        self._server.shutdown()
        self._server.server_close()
